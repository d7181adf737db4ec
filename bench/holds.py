"""What a confirmation costs Redis with few and with many live holds on its day.

Run on its own (``python -m bench.holds``). Holds are found by id (``<holds>:ids``, bot/booking/
seats.py), so a confirmation should cost about the same with 10 live holds as with 450, as at a
quota's opening; before the index it scanned every hold (250 us against 78 us at 450 holds, on the
machine that wrote this). Prints Redis's own time per EVALSHA (``INFO commandstats``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import redis.asyncio as aioredis

from bench.common import redis_server
from bot.booking.seats import SeatBook
from bot.core.clock import ManualClock

DAY = date(2030, 3, 5)
CONFIRMS = 300


async def confirm_cost(url: str, live_holds: int) -> float:
    """Redis microseconds per confirmation with about ``live_holds`` other holds live."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    await client.flushall()
    book = SeatBook(client, "bench", ManualClock(datetime(2030, 3, 1, tzinfo=UTC)))
    total = live_holds + CONFIRMS
    for n in range(total):
        await book.hold(
            hold_id=f"h{n}", day=DAY, service="s", window="08", default_capacity=10_000,
            account=f"telegram:{n}", max_active=1, ttl_ms=600_000,
        )  # fmt: skip
    await client.config_resetstat()
    for n in range(CONFIRMS):
        await book.confirm(
            hold_id=f"h{n}", day=DAY, service="s", window="08", default_capacity=10_000,
            prefix="A", account=f"telegram:{n}", max_active=1, nik_hash=f"n{n}",
            nik_last4="1234", name="x", locale="id",
        )  # fmt: skip
    stats = await client.info("commandstats")
    await client.aclose()
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


async def main() -> None:
    with redis_server() as server:
        for live in (10, 450):
            cost = await confirm_cost(server.url, live)
            span = f"{live}-{live + CONFIRMS}"
            print(f"confirm with {span} live holds: {cost:.1f} us of Redis per call")


if __name__ == "__main__":
    asyncio.run(main())
