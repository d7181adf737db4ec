"""Redis bytes per idle session, per booking and per scheduled reminder (``MEMORY USAGE``),
Antrean and the aiogram peer.

Run after the dialog benchmark's conversation: every applicant has booked and sits at the menu,
which is what an idle session looks like. Each booking's reminders wait on the office's due list,
where the booking script put them.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import redis.asyncio as aioredis

from bench.common import bench_office, redis_server
from bench.dialog import antrean, peer
from bot.infra.keys import OfficeKeys


@dataclass
class Memory:
    what: str
    keys: str
    bytes_each: float


async def usage(client: aioredis.Redis, pattern: str) -> float:
    sizes = [await client.memory_usage(k) or 0 async for k in client.scan_iter(match=pattern)]
    return statistics.fmean(sizes) if sizes else 0.0


async def reminders(client: aioredis.Redis) -> Memory:
    """Bytes per reminder waiting on the office's due list (its share of the sorted set), as
    the bookings' scripts left it. Only a reminder due within the next ten minutes also has an
    RQ job (about 1.6 KiB while it waits)."""
    key = OfficeKeys(bench_office().id).reminders
    entries = await client.zcard(key)
    size = await client.memory_usage(key) or 0
    return Memory("Antrean reminder waiting to be sent", "due-list entry", size / max(entries, 1))


async def measure(applicants: int = 300) -> list[Memory]:
    with redis_server() as ours_redis, redis_server() as peer_redis, TemporaryDirectory() as var:
        client = aioredis.Redis.from_url(ours_redis.url, decode_responses=True)
        ours = antrean(ours_redis.url, Path(var))
        await ours.measure(0, applicants, 50)
        session = await usage(client, "antrean:{u:*}:session")
        seen = await usage(client, "antrean:{u:*}:seen")
        booking = await usage(client, "antrean:{o:bench}:booking:*")
        rows = [
            Memory("Antrean idle session", "session", session),
            Memory("Antrean de-duplication memory (7 days)", "seen", seen),
            Memory("Antrean session + de-duplication", "session + seen", session + seen),
            Memory("Antrean booking", "booking hash", booking),
            await reminders(client),
        ]
        await client.aclose()
        await ours.client.aclose()

        theirs, bot = peer(peer_redis.url)
        await theirs.measure(0, applicants, 50)
        # aiogram keeps state and data in two keys per chat; after state.clear() both are gone,
        # so an idle peer session costs nothing until the user writes again.
        peer_state = await usage(theirs.client, "fsm:*:state")
        peer_data = await usage(theirs.client, "fsm:*:data")
        await bot.session.close()
        await theirs.client.aclose()
    return [*rows, Memory("aiogram FSM idle session", "state + data", peer_state + peer_data)]


def report(rows: list[Memory]) -> str:
    lines = ["| what | keys | bytes each |", "| --- | --- | ---: |"]
    lines += [f"| {r.what} | {r.keys} | {r.bytes_each:,.0f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(asyncio.run(measure())))
