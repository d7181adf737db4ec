"""What the satisfaction survey costs Redis: recording one answer (bot/booking/survey.py, one
script) and reading a day's results for /stats and the staff page.

Run on its own (``python -m bench.ikm``). Served bookings are written straight into their hashes
(the fields the script reads); each is then surveyed once, with a comment, and once more (the
refusal a second submission gets). Prints Redis's own time per EVALSHA (``INFO commandstats``)
and the wall time of a day's read with the full 200 comments.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime

import redis.asyncio as aioredis

from bench.common import redis_server
from bot.booking.survey import DONE, KEPT_COMMENTS, RECORDED, Surveys
from bot.core.clock import ManualClock
from bot.infra.keys import OfficeKeys

DAY = date(2030, 3, 5)
ANSWERS = 1000
SCORES = [4, 3, 3, 4, 3, 4, 4, 2, 3]


async def survey_costs(url: str) -> tuple[float, float, float, float]:
    """Redis us per recorded answer, per refused repeat; ms per day read; wall us per answer."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    await client.flushall()
    keys = OfficeKeys("bench")
    surveys = Surveys(client, "bench", ManualClock(datetime(2030, 3, 5, 9, tzinfo=UTC)))
    async with client.pipeline(transaction=False) as pipe:
        for n in range(ANSWERS):
            pipe.hset(
                keys.booking(f"b{n}"),
                mapping={"account": f"telegram:{n}", "status": "served", "day": DAY.isoformat()},
            )
        await pipe.execute()
    comment = "Antrean tertib, petugas ramah, tapi ruang tunggu panas. " * 3

    async def answer(n: int) -> str:
        return await surveys.record(
            f"b{n}", account=f"telegram:{n}", day=DAY, scores=SCORES, comment=comment
        )

    await client.config_resetstat()
    started = time.perf_counter()
    assert {await answer(n) for n in range(ANSWERS)} == {RECORDED}
    wall = (time.perf_counter() - started) / ANSWERS * 1e6
    recorded = float((await client.info("commandstats"))["cmdstat_evalsha"]["usec_per_call"])
    await client.config_resetstat()
    assert {await answer(n) for n in range(ANSWERS)} == {DONE}
    refused = float((await client.info("commandstats"))["cmdstat_evalsha"]["usec_per_call"])
    started = time.perf_counter()
    for _ in range(100):
        day = await surveys.day(DAY, KEPT_COMMENTS)
    read = (time.perf_counter() - started) / 100 * 1000
    assert day.index is not None and day.index.respondents == ANSWERS
    assert len(day.comments) == KEPT_COMMENTS
    await client.aclose()
    return recorded, refused, read, wall


async def main() -> None:
    with redis_server() as server:
        recorded, refused, read, wall = await survey_costs(server.url)
    print(f"survey answer recorded: {recorded:.1f} us of Redis per call ({wall:.0f} us wall)")
    print(f"second answer refused: {refused:.1f} us of Redis per call")
    print(f"a day's results with {KEPT_COMMENTS} comments: {read:.2f} ms per read (one round trip)")


if __name__ == "__main__":
    asyncio.run(main())
