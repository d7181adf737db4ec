"""Redis bytes per idle session and per booking (``MEMORY USAGE``), Antrean and the aiogram peer.

Run after the dialog benchmark's conversation: every applicant has booked and sits at the menu,
which is what an idle session looks like.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import redis.asyncio as aioredis

from bench.common import redis_server
from bench.dialog import run_antrean, run_peer


@dataclass
class Memory:
    what: str
    keys: str
    bytes_each: float


async def usage(client: aioredis.Redis, pattern: str) -> float:
    sizes = [await client.memory_usage(k) or 0 async for k in client.scan_iter(match=pattern)]
    return statistics.fmean(sizes) if sizes else 0.0


async def measure(applicants: int = 300) -> list[Memory]:
    with redis_server() as server, TemporaryDirectory() as var:
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        await run_antrean(server.url, applicants, 50, Path(var))
        session = await usage(client, "antrean:{u:*}:session")
        seen = await usage(client, "antrean:{u:*}:seen")
        booking = await usage(client, "antrean:{o:bench}:booking:*")
        ours = [
            Memory("Antrean idle session", "session", session),
            Memory("Antrean de-duplication memory (7 days)", "seen", seen),
            Memory("Antrean session + de-duplication", "session + seen", session + seen),
            Memory("Antrean booking", "booking hash", booking),
        ]
        await run_peer(server.url, applicants, 50)
        # aiogram keeps state and data in two keys per chat; after state.clear() both are gone,
        # so an idle peer session costs nothing until the user writes again.
        peer_state = await usage(client, "fsm:*:state")
        peer_data = await usage(client, "fsm:*:data")
        await client.aclose()
    return [*ours, Memory("aiogram FSM idle session", "state + data", peer_state + peer_data)]


def report(rows: list[Memory]) -> str:
    lines = ["| what | keys | bytes each |", "| --- | --- | ---: |"]
    lines += [f"| {r.what} | {r.keys} | {r.bytes_each:,.0f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(asyncio.run(measure())))
