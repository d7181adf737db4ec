"""Message ids are remembered as long as their platform may deliver them again (issue #12,
finding 7), through the engine and each channel's window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot.core.clock import ManualClock, ms
from bot.core.engine import Engine
from bot.core.messages import Inbound
from bot.infra.keys import SessionKeys
from channels.console import ConsoleChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from tests.bot.core.tinybot import tiny_deps, tiny_steps
from tests.support import Recorder


@dataclass
class Forgetful(Recorder):
    redelivers_for = timedelta(minutes=10)


def test_each_platform_redelivers_for_its_documented_window() -> None:
    assert TelegramChannel.redelivers_for == timedelta(hours=24)
    assert WhatsAppChannel.redelivers_for == timedelta(days=7)
    assert ConsoleChannel.redelivers_for <= timedelta(minutes=10)


async def test_an_id_is_forgotten_after_its_channels_window(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    recorder = Forgetful()
    engine = Engine(tiny_deps(redis, clock, tmp_path), tiny_steps(), {"console": recorder})
    message = Inbound("console", "u", "m1", "halo")
    assert await engine.handle(message) == "handled"
    seen = SessionKeys("console:u").seen
    assert await redis.zscore(seen, "m1") == ms(clock.now()) + 600_000
    assert 590_000 < await redis.pttl(seen) <= 600_000
    clock.advance(9 * 60)
    assert await engine.handle(message) == "duplicate"
    clock.advance(2 * 60)
    assert await engine.handle(message) == "handled"
