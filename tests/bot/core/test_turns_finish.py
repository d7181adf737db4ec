"""Every turn finishes (issue #12, finding 2): a message that fails outside its step, that
cannot be read back, or that kills every process that runs it is answered with the generic error
and the menu, and the user is never stuck behind it. Real Redis, the real dialog."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.channel import Deadline
from bot.core.clock import ManualClock, ms
from bot.core.engine import MAX_ATTEMPTS, Engine
from bot.core.messages import Inbound, Outbound
from bot.core.writes import Write
from bot.infra.keys import SessionKeys
from tests.bot.core.tinybot import tiny_deps, tiny_steps
from tests.invariants import assert_user_text_expires
from tests.support import Recorder, said

INTERNAL = "terjadi kesalahan di sistem kami"
MENU_QUESTION = "Apa yang ingin Anda lakukan?"
NIK = "3171011508850001"


@dataclass
class FailsOnce(Recorder):
    """A channel whose first reply fails with an error no channel should raise (a bug)."""

    failures: int = 1

    async def reply(
        self, user_id: str, messages: Sequence[Outbound], *, deadline: Deadline | None = None
    ) -> list[Write]:
        if self.failures:
            self.failures -= 1
            raise RuntimeError(f"bug while sending {messages!r}")
        return await super().reply(user_id, messages, deadline=deadline)


async def test_a_failure_outside_the_step_is_answered_and_does_not_wedge_the_user(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = FailsOnce()
    engine = Engine(tiny_deps(redis, clock, tmp_path), tiny_steps(), {"console": channel})
    # Before: the exception escaped handle() (a 500), the message stayed in the lease and every
    # takeover ran it again.
    assert await engine.handle(Inbound("console", "u", "m1", NIK)) == "handled"
    texts = said(channel, "u")
    assert len(texts) == 1 and INTERNAL in texts[0] and MENU_QUESTION in texts[0]
    assert await redis.exists(SessionKeys("console:u").lease) == 0
    assert await engine.handle(Inbound("console", "u", "m2", "menu")) == "handled"
    assert MENU_QUESTION in said(channel, "u")[-1]
    # Logged once, without what the user typed.
    gave_up = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(gave_up) == 1 and "RuntimeError" in gave_up[0].getMessage()
    assert NIK not in caplog.text


async def test_a_message_that_kills_every_process_is_given_up_after_a_few_attempts(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = tiny_deps(redis, clock, tmp_path, lease_seconds=5)
    recorder = Recorder()
    engine = Engine(app, tiny_steps(), {"console": recorder})
    poison = Inbound("console", "u", "m1", NIK)
    # Each process that starts it dies (the OOM killer, a segfault): nothing but the lease knows.
    for _ in range(MAX_ATTEMPTS):
        turn = await app.sessions.begin(poison, ms(clock.now()))
        assert turn.status == "run"
        clock.advance(6)
    # Its redelivery takes over once more: it is not run again, the user is told and shown the
    # menu, and the lease is released.
    assert await engine.handle(poison) == "handled"
    texts = said(recorder, "u")
    assert len(texts) == 1 and INTERNAL in texts[0] and MENU_QUESTION in texts[0]
    assert await redis.exists(SessionKeys("console:u").lease) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "started 3 times" in errors[0], errors
    assert NIK not in caplog.text
    assert await engine.handle(Inbound("console", "u", "m2", "menu")) == "handled"
    assert MENU_QUESTION in said(recorder, "u")[-1]
    assert await engine.handle(poison) == "duplicate"
    await assert_user_text_expires(redis)


async def test_an_unreadable_queued_message_is_answered_and_the_next_ones_run(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = tiny_deps(redis, clock, tmp_path, lease_seconds=5)
    recorder = Recorder()
    engine = Engine(app, tiny_steps(), {"console": recorder})
    assert (
        await app.sessions.begin(Inbound("console", "u", "m1", "halo"), ms(clock.now()))
    ).status == "run"
    # Queued by an older version ("<id><TAB><payload>"), then the holder died.
    await redis.rpush(SessionKeys("console:u").inbox, 'm2\t{"c":"console","u":"u","m":"m2"}')
    clock.advance(6)
    assert await engine.handle(Inbound("console", "u", "m3", "bantuan")) == "handled"
    texts = said(recorder, "u")
    assert len(texts) == 3, texts
    assert "Selamat datang" in texts[0]  # m1, run again
    assert INTERNAL in texts[1] and MENU_QUESTION in texts[1]  # m2, unreadable
    assert "Kata yang selalu" in texts[2]  # m3
