"""A slow, hung, rate-limiting or failing Bot API cannot hold a turn past its lease (issue #12,
finding 3): the webhook answers within the turn's send time, what could not go out is left to
the user's outbox, and a real ``antrean worker`` sends it later, once, in order."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from rq import Queue

from bot.booking.app import App
from bot.core.clock import SystemClock
from bot.core.engine import Engine
from bot.core.pacing import Pacer
from bot.infra.embedded import RedisServer
from bot.infra.keys import SessionKeys
from bot.infra.settings import load_settings
from bot.web import build_web_app
from channels.telegram import TelegramChannel
from channels.telegram.render import NAV_PREFIX
from channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from handlers import build_steps
from tests.channels.drivers.telegram import WEBHOOK_SECRET, callback_update, text_update
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import SECRET, start_worker
from tests.web_support import run_server
from workers.jobs import RqJobs
from workers.queues import QUEUE

# Short, so that the tests are: the defaults are 8 s and 4 s.
SEND_SECONDS = 3.0
PLATFORM_TIMEOUT = 1.0
# What the webhook may take on top of the send time (the turn's Redis work, a loaded machine).
SLACK = 2.0


@dataclass
class World:
    fake: FakeTelegram
    app: App
    http: aiohttp.ClientSession
    url: str
    env: dict[str, str]

    async def post(self, chat_id: int, text: str) -> tuple[int, float]:
        """Post a message as Telegram would; its status and how long the answer took."""
        started = time.monotonic()
        async with self.http.post(
            self.url, json=text_update(text, chat_id), headers={SECRET_HEADER: WEBHOOK_SECRET}
        ) as response:
            await response.read()
            return response.status, time.monotonic() - started

    def texts(self, chat_id: int) -> list[str]:
        """What the fake accepted for ``chat_id`` (sent for real), in order."""
        return [str(c.params["text"]) for c in self.fake.sent_texts()
                if c.params.get("chat_id") == str(chat_id)]  # fmt: skip

    async def wait_for(self, chats: list[int], count: int, within: float) -> None:
        """Until each of ``chats`` was sent ``count`` texts (bounded), then a little longer:
        anything more the worker would send comes by then."""
        for _ in range(int(within * 10)):
            if all(len(self.texts(c)) >= count for c in chats):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)


@pytest.fixture
async def world(
    redis_server: RedisServer, redis: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[World]:
    fake = FakeTelegram()
    async with run_server(fake.app()) as api_base, aiohttp.ClientSession() as http:
        settings = load_settings(
            secret_key=SECRET,
            var_dir=tmp_path,
            rate_limit_per_minute=0,
            telegram_token=TOKEN,
            telegram_api_base=api_base,
            telegram_webhook_secret=WEBHOOK_SECRET,
            send_seconds=SEND_SECONDS,
            platform_timeout_seconds=PLATFORM_TIMEOUT,
        )
        # Real time: the lease expires as it would in production.
        clock = SystemClock()
        app = App.build(settings, redis, clock=clock)
        sync = SyncRedis.from_url(redis_server.url)
        app.jobs = RqJobs(Queue(QUEUE, connection=sync))
        channel = TelegramChannel.from_settings(
            settings, redis=redis, pacer=Pacer.from_settings(settings, redis, clock)
        )
        engine = Engine(app, build_steps(), {"telegram": channel})
        env = {
            **os.environ,
            "ANTREAN_REDIS_URL": redis_server.url,
            "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_VAR_DIR": str(tmp_path),
            "ANTREAN_TELEGRAM_TOKEN": TOKEN,
            "ANTREAN_TELEGRAM_API_BASE": api_base,
            "ANTREAN_SEND_SECONDS": str(SEND_SECONDS),
            "ANTREAN_PLATFORM_TIMEOUT_SECONDS": str(PLATFORM_TIMEOUT),
        }
        try:
            async with run_server(build_web_app(app, engine, [channel])) as base:
                yield World(fake, app, http, base + WEBHOOK_PATH, env)
        finally:
            await channel.aclose()
            sync.close()


@pytest.fixture
async def worker(world: World) -> AsyncIterator[None]:
    """A real ``antrean worker`` (with its RQ scheduler) on the suite's Redis."""
    process = await start_worker(world.env)
    yield
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


@pytest.mark.parametrize(
    "fault",
    ["hangs 90 s", "answers 429 retry_after=29", "answers 502"],
)
async def test_a_faulty_bot_api_cannot_hold_the_webhook_and_the_reply_goes_once(
    world: World, worker: None, fault: str
) -> None:
    chat = 8_800_001
    if fault == "hangs 90 s":
        world.fake.hang(90, times=3)  # both of the turn's attempts, the worker's first
    elif fault == "answers 429 retry_after=29":
        world.fake.rate_limit(chat, times=1, retry_after=29)
    else:
        world.fake.fail(4)  # the turn's attempts, then the worker's first
    status, took = await world.post(chat, "/start")
    assert status == 200
    assert took < SEND_SECONDS + SLACK, f"the webhook took {took:.1f} s"
    assert world.texts(chat) == []
    # A later message, meanwhile: its reply goes behind the first, never ahead or twice.
    status, took = await world.post(chat, "bantuan")
    assert status == 200 and took < SEND_SECONDS + SLACK
    await world.wait_for([chat], 2, within=60)
    texts = world.texts(chat)
    assert len(texts) == 2, texts
    assert texts[0].startswith("Selamat datang"), texts
    assert texts[1].startswith("Pilih dengan menekan tombol"), texts
    assert await world.app.redis.llen(SessionKeys(f"telegram:{chat}").outbox) == 0
    if fault == "answers 429 retry_after=29":
        # The retry waited what Telegram asked for.
        [refused] = [c for c in world.fake.of("sendMessage", chat) if c.result is None]
        [first] = world.fake.sent_texts()[:1]
        assert first.at - refused.at >= 29


async def test_one_hundred_fifty_users_and_a_hung_bot_api_all_answered_in_time(
    world: World, worker: None
) -> None:
    """Past aiohttp's pool of 100 connections the wait for a connection counts against the
    deadline too: no webhook waits for another's hung request."""
    users = [8_900_000 + n for n in range(150)]
    # Every attempt in the turns hangs (2 each): all 150 replies go through the outbox.
    world.fake.hang(90, times=2 * len(users))
    results = await asyncio.gather(*(world.post(chat, "/start") for chat in users))
    assert {status for status, _ in results} == {200}
    slowest = max(took for _, took in results)
    assert slowest < SEND_SECONDS + 3 * SLACK, f"slowest webhook {slowest:.1f} s"
    await world.wait_for(users, 1, within=90)
    assert [len(world.texts(c)) for c in users] == [1] * len(users)


async def test_a_hung_keyboard_edit_holds_a_tap_one_request_time_at_most(world: World) -> None:
    world.fake.hang(90, times=5)
    update = callback_update(f"{NAV_PREFIX}1", 999, 8_800_002)  # a stale keyboard's arrow
    started = time.monotonic()
    async with world.http.post(
        world.url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
    ) as response:
        assert response.status == 200
    took = time.monotonic() - started
    assert took < PLATFORM_TIMEOUT + SLACK, f"the tap's webhook took {took:.1f} s"
    assert len(world.fake.of("editMessageReplyMarkup")) == 1
