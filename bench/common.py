"""What every benchmark shares: a private Redis, a big office, Telegram-shaped updates, counters.

Round trips are counted with the tests' CountingRedis: single commands and pipelines alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import redis.asyncio as aioredis

from bot.booking.office import Office, parse_office
from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer, free_port

# A Monday 08:00 in Jakarta; the office opens days 1..14 ahead.
START = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)

BENCH_OFFICE = """
[office]
id = "bench"
name = "Bench office"
address = "Loopback"
timezone = "Asia/Jakarta"
public_holidays = false

[booking]
days_ahead = 14
max_active_per_account = 1

[[services]]
id = "paspor-baru"
prefix = "A"
names = { id = "Paspor baru", en = "New passport" }
documents = { id = ["e-KTP asli"], en = ["Original e-KTP"] }

[hours]
mon = [{ start = "08:00", end = "12:00", seats = 100000 }]
tue = [{ start = "08:00", end = "12:00", seats = 100000 }]
wed = [{ start = "08:00", end = "12:00", seats = 100000 }]
thu = [{ start = "08:00", end = "12:00", seats = 100000 }]
fri = [{ start = "08:00", end = "12:00", seats = 100000 }]
"""


def bench_office() -> Office:
    return parse_office(BENCH_OFFICE, "bench office")


def clock() -> ManualClock:
    return ManualClock(START)


def nik(n: int) -> str:
    """A structurally valid, made-up NIK, distinct for n < 10,000."""
    return f"317101150885{n + 1:04d}"


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    with TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), port=free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def redis_cpu(client: aioredis.Redis) -> float:
    """The Redis server's CPU seconds so far (``INFO cpu``: user + system, of the server and of
    its children). Not the ``*_main_thread`` fields: the main thread's time is already in the
    server's (adding them counted most of it twice)."""
    info = await client.info("cpu")
    fields = ("used_cpu_user", "used_cpu_sys", "used_cpu_user_children", "used_cpu_sys_children")
    return sum(float(info.get(k, 0)) for k in fields)


async def commands_total(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_900_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "id"},
            "text": text,
        },
    }


def callback_update(update_id: int, chat_id: int, data: str) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "id"}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": user,
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": update_id - 1,
                "date": 1_900_000_000,
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "text": "…",
            },
        },
    }


# A target of the issue, what was measured, and whether it is met (BENCHMARKS.md's first table).
Row = tuple[str, str, bool]


def targets_table(rows: list[Row]) -> str:
    lines = ["| target | measured | met |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in rows]
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Result:
    """One system's dialog cost. ``outcome``: bookings made (in process) or non-200 answers
    (over HTTP), whichever its report's last column says."""

    name: str
    turns: int
    seconds: float
    cpu_ms_per_turn: float
    round_trips_per_turn: float
    commands_per_turn: float
    p50_ms: float
    p99_ms: float
    outcome: int
    redis_cpu_ms_per_turn: float = 0.0

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.seconds


@dataclass
class Tally:
    """What a system's measured rounds add up to."""

    name: str
    turns: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    round_trips: int = 0
    commands: int = 0
    redis_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(
        self,
        turns: int,
        wall: float,
        cpu: float,
        round_trips: int,
        commands: int,
        redis_cpu: float = 0.0,
    ) -> None:
        self.turns += turns
        self.wall += wall
        self.cpu += cpu
        self.round_trips += round_trips
        self.commands += commands
        self.redis_cpu += redis_cpu

    def result(self, outcome: int) -> Result:
        return Result(
            self.name,
            self.turns,
            self.wall,
            self.cpu * 1000 / self.turns,
            self.round_trips / self.turns,
            self.commands / self.turns,
            percentile(self.latencies, 50),
            percentile(self.latencies, 99),
            outcome,
            self.redis_cpu * 1000 / self.turns,
        )


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "-"


def dialog_report(results: list[Result], cpu: str, outcome: str) -> str:
    """The table of a dialog-cost comparison: each system, then its ratio to every other one."""
    ours, *peers = results
    lines = [
        f"| system | turns | turns/s | {cpu} | Redis round trips/turn | Redis commands/turn "
        f"| Redis CPU ms/turn | p50 ms | p99 ms | {outcome} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.turns} | {r.turns_per_s:,.0f} | {r.cpu_ms_per_turn:.2f} | "
            f"{r.round_trips_per_turn:.2f} | {r.commands_per_turn:.2f} | "
            f"{r.redis_cpu_ms_per_turn:.3f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.outcome} |"
        )
    for peer in peers:
        lines.append(
            f"| **ratio {ours.name} / {peer.name}** | | "
            f"{ours.turns_per_s / peer.turns_per_s:.2f} | "
            f"{ours.cpu_ms_per_turn / peer.cpu_ms_per_turn:.2f} | "
            f"{ours.round_trips_per_turn / peer.round_trips_per_turn:.2f} | "
            f"{ours.commands_per_turn / peer.commands_per_turn:.2f} | "
            f"{ratio(ours.redis_cpu_ms_per_turn, peer.redis_cpu_ms_per_turn)} | | | |"
        )
    return "\n".join(lines)
