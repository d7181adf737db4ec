"""Issue #12, finding 3 against real processes: two ``antrean run`` processes and one
``antrean worker`` on their own Redis, a Bot API that hangs for 90 s. Every webhook answers within
the send time (no lease expires, no second process runs a message again), and each user gets
the welcome exactly once, from the worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.infra.embedded import RedisServer, free_port
from tests.channels.drivers.telegram import text_update
from tests.deploy.support import Webhook, env_for, texts_to, web_processes, write_office
from tests.fake_telegram import FakeTelegram
from tests.support import start_worker
from tests.web_support import run_server

USERS = 20
TIMES = {"ANTREAN_SEND_SECONDS": "3", "ANTREAN_PLATFORM_TIMEOUT_SECONDS": "1"}


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


async def test_a_hung_bot_api_against_real_processes(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    office_file = write_office(tmp_path, seats=10)
    fake = FakeTelegram()
    chats = [8_600_000 + n for n in range(USERS)]
    # Every attempt the turns make (two each within 3 s) hangs; the worker's go through.
    fake.hang(90, times=2 * USERS)
    settings = {
        "redis_url": private_redis.url,
        "office_file": office_file,
        "var_dir": tmp_path / "var",
    }
    async with (
        run_server(fake.app()) as api_base,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
        web_processes(2, tmp_path, http, api_base=api_base, **settings, **TIMES) as group,
    ):
        hook = Webhook(http, group.bases)
        started = time.monotonic()

        async def one(n: int, chat: int) -> float:
            status = await hook.post(text_update("/start", chat), n)
            assert status == 200, status
            return time.monotonic() - started

        took = await asyncio.gather(*(one(n, chat) for n, chat in enumerate(chats)))
        assert max(took) < 3 + 4, f"slowest webhook {max(took):.1f} s\n{group.logs()}"
        assert all(texts_to(fake, chat) == [] for chat in chats)
        env = env_for(port=free_port(), api_base=api_base, **settings, **TIMES)
        worker = await start_worker(env)
        try:
            for _ in range(600):
                if all(texts_to(fake, chat) for chat in chats):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # anything more the worker would send comes by now
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 20)
        counts = [len(texts_to(fake, chat)) for chat in chats]
        assert counts == [1] * USERS, f"{counts}\n{group.logs()}"
        assert all(texts_to(fake, chat)[0].startswith("Selamat datang") for chat in chats)
