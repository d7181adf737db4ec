"""A slow, hung, throttling or failing Graph API cannot hold a WhatsApp turn past its lease
(issue #12, finding 3): the webhook answers within the turn's send time, what could not go out
is left to the user's outbox, and a real ``antrean worker`` sends it later, once, in order."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
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
from channels.whatsapp import WhatsAppChannel
from handlers import build_steps
from tests.channels.drivers.whatsapp import seen_of
from tests.fake_graph import (
    APP_SECRET,
    VERIFY_TOKEN,
    FakeGraph,
    envelope,
    run_fake_graph,
    signed,
    text_message,
)
from tests.support import SECRET, start_worker
from tests.web_support import run_server
from workers.jobs import RqJobs
from workers.queues import QUEUE

SEND_SECONDS = 3.0
PLATFORM_TIMEOUT = 1.0
SLACK = 2.0
WA_ID = "6281299990001"


@dataclass
class World:
    fake: FakeGraph
    app: App
    client: httpx.AsyncClient

    async def post(self, text: str) -> tuple[int, float]:
        body = json.dumps(envelope([text_message(WA_ID, text)])).encode()
        started = time.monotonic()
        response = await self.client.post("/webhook/whatsapp", content=body, headers=signed(body))
        return response.status_code, time.monotonic() - started

    def texts(self) -> list[str]:
        """What Meta accepted for the user (sent for real), in order."""
        accepted = [r["json"] for r in self.fake.accepted if r["json"].get("to") == WA_ID]
        return seen_of(accepted).texts


@pytest.fixture
async def world(
    redis_server: RedisServer, redis: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[World]:
    async with run_fake_graph() as fake:
        settings = load_settings(
            secret_key=SECRET,
            var_dir=tmp_path,
            rate_limit_per_minute=0,
            whatsapp_token=fake.token,
            whatsapp_phone_number_id=fake.phone_number_id,
            whatsapp_app_secret=APP_SECRET,
            whatsapp_verify_token=VERIFY_TOKEN,
            whatsapp_api_base=fake.base_url,
            send_seconds=SEND_SECONDS,
            platform_timeout_seconds=PLATFORM_TIMEOUT,
        )
        clock = SystemClock()
        app = App.build(settings, redis, clock=clock)
        sync = SyncRedis.from_url(redis_server.url)
        app.jobs = RqJobs(Queue(QUEUE, connection=sync))
        pacer = Pacer.from_settings(settings, redis, clock)
        channel = WhatsAppChannel.from_settings(settings, redis, clock, pacer=pacer)
        engine = Engine(app, build_steps(), {"whatsapp": channel})
        env = {
            **os.environ,
            "ANTREAN_REDIS_URL": redis_server.url,
            "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_VAR_DIR": str(tmp_path),
            "ANTREAN_WHATSAPP_TOKEN": fake.token,
            "ANTREAN_WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
            "ANTREAN_WHATSAPP_APP_SECRET": APP_SECRET,
            "ANTREAN_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "ANTREAN_WHATSAPP_API_BASE": fake.base_url,
            "ANTREAN_SEND_SECONDS": str(SEND_SECONDS),
            "ANTREAN_PLATFORM_TIMEOUT_SECONDS": str(PLATFORM_TIMEOUT),
        }
        try:
            async with (
                run_server(build_web_app(app, engine, [channel])) as base,
                httpx.AsyncClient(base_url=base, timeout=60) as client,
            ):
                world = World(fake, app, client)
                process = await start_worker(env)
                try:
                    yield world
                finally:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 20)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
        finally:
            sync.close()


@pytest.mark.parametrize(
    "fault", ["hangs 90 s", "throttles (130429)", "pair rate limit (131056)", "answers 500"]
)
async def test_a_faulty_graph_api_cannot_hold_the_webhook_and_the_reply_goes_once(
    world: World, fault: str
) -> None:
    if fault == "hangs 90 s":
        world.fake.hang(WA_ID, 90, times=3)  # the turn's attempts and the worker's first
    elif fault == "throttles (130429)":
        world.fake.fail(WA_ID, 130429, times=3)
    elif fault == "pair rate limit (131056)":
        world.fake.fail(WA_ID, 131056, times=3)
    else:
        world.fake.fail(WA_ID, 131000, times=3)
    status, took = await world.post("menu")
    assert status == 200
    assert took < SEND_SECONDS + SLACK, f"the webhook took {took:.1f} s"
    assert world.texts() == []
    # A later message, meanwhile: its reply goes behind the first, never ahead or twice.
    status, took = await world.post("bantuan")
    assert status == 200 and took < SEND_SECONDS + SLACK
    for _ in range(600):
        if len(world.texts()) >= 2:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # anything more the worker would send comes by now
    texts = world.texts()
    assert len(texts) == 2, texts
    assert texts[0].startswith("Selamat datang"), texts
    assert texts[1].startswith("Pilih dengan menekan tombol"), texts
    assert await world.app.redis.llen(SessionKeys(f"whatsapp:{WA_ID}").outbox) == 0
