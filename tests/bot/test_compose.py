"""The composition root: every role opens the same app the same way, and closes all it opened."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.compose import open_app
from bot.core.messages import Inbound
from bot.errors import ConfigError
from bot.infra.embedded import RedisServer, client_name
from bot.infra.settings import load_settings
from channels.console import ConsoleChannel
from tests.support import SECRET
from workers import outbox
from workers.jobs import RqJobs
from workers.runtime import Runtime, current, installed


async def test_each_role_opens_its_channels_engine_and_jobs(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    async with open_app(settings, "tool") as tool:
        assert tool.channels == {} and tool.engine is None and tool.web is None
        assert isinstance(tool.deps.jobs, RqJobs)
    async with open_app(settings, "chat", user="admin") as chat:
        console = chat.channels["console"]
        assert isinstance(console, ConsoleChannel) and console.local_user == "admin"
        assert chat.engine is not None and chat.web is None
    async with open_app(settings, "worker") as worker:
        # No token configured: the console only, whose messages are labelled for someone else.
        assert list(worker.channels) == ["console"]
        assert worker.engine is None
    with pytest.raises(ValueError, match="unknown role"):
        async with open_app(settings, "serve"):  # type: ignore[arg-type]
            pass


async def ours(observer: aioredis.Redis) -> int:
    """This process's connections to the server (every client open_app makes names them)."""
    return sum(1 for c in await observer.client_list() if c.get("name") == client_name())


async def settled(observer: aioredis.Redis, within: float = 5.0) -> int:
    """Our connections once the server has seen the closes (it reads them on its next tick)."""
    for _ in range(int(within / 0.02)):
        if not (left := await ours(observer)):
            break
        await asyncio.sleep(0.02)
    return left


async def test_leaving_closes_what_it_opened_and_keeps_what_it_was_given(
    redis_server: RedisServer, redis: aioredis.Redis, tmp_path: Path
) -> None:
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    async with open_app(settings, "tool") as opened:
        assert await opened.deps.redis.ping()
        assert await opened.jobs.waiting() == 0  # RQ's connection too
        assert await ours(redis) >= 2
    assert await settled(redis) == 0

    given = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with open_app(settings, "tool", redis=given) as process:
        assert process.deps.redis is given
    assert await given.ping()  # still the caller's, still open
    await given.aclose()


async def test_a_turn_in_the_chat_role_runs_the_booking_bot(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    async with open_app(settings, "chat") as process:
        assert process.engine is not None
        await process.engine.handle(Inbound("console", "me", "m1", "halo"))
    assert process.deps.office.name in capsys.readouterr().out


def test_jobs_run_only_inside_the_worker_that_installed_its_runtime(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="antrean worker"):
        current()
    with pytest.raises(ConfigError, match="antrean worker"):
        outbox.send_outbox("console:me")
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    runtime = Runtime(lambda: open_app(settings, "worker"))
    try:
        with installed(runtime):
            assert current() is runtime
            # Nothing in the outbox: the job says so and sends nothing.
            assert outbox.send_outbox("console:me") == "sent 0"
        with pytest.raises(ConfigError):
            current()
    finally:
        runtime.close()
