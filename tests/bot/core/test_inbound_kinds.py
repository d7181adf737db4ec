"""Messages the bot cannot read (stickers, photos...) are turns like any other."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from bot.core.messages import Choices, Inbound
from tests.bot.core.tinybot import tiny_deps, tiny_engine


def test_the_kind_survives_the_inbox_encoding() -> None:
    sticker = Inbound("telegram", "42", "u1", kind="sticker", locale_hint="en")
    assert Inbound.loads(sticker.dumps()) == sticker
    text = Inbound("telegram", "42", "u2", text="halo")
    assert '"k"' not in text.dumps() and Inbound.loads(text.dumps()).kind == "text"


async def test_a_sticker_at_a_choice_step_is_asked_again_once(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = tiny_deps(redis, clock, tmp_path)
    engine, recorder = tiny_engine(app)
    await engine.handle(Inbound("console", "u", "m1", text="halo"))
    before = len(recorder.sent["u"])
    sticker = Inbound("console", "u", "m2", kind="sticker")
    for _ in range(3):  # redelivered
        await engine.handle(sticker)
    [answer] = recorder.sent["u"][before:]
    assert isinstance(answer, Choices) and "hanya bisa membaca teks" in answer.text
    assert "Warna" in [o.title for o in answer.options]
    # The step is unchanged: a typed choice still works.
    await engine.handle(Inbound("console", "u", "m3", text="3"))
    last = recorder.sent["u"][-1]
    assert isinstance(last, Choices) and "Merah" in [o.title for o in last.options]
