"""What every benchmark shares: a private Redis, a big office, Telegram-shaped updates, counters.

Round trips are counted with the tests' CountingRedis: single commands and pipelines alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import redis.asyncio as aioredis

from bot.clock import ManualClock
from bot.embedded import RedisServer, free_port
from bot.office import Office, parse_office

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


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
