"""Broadcasts on real RQ worker processes, sending to the fake Bot API and Graph API on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from redis import Redis as SyncRedis
from rq import Queue

from bot.booking.app import App
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.core.messages import Text
from bot.core.pacing import Pacer, channel_key, recipient_key
from bot.infra.embedded import RedisServer
from channels.telegram import TelegramChannel
from tests.fake_graph import APP_SECRET, VERIFY_TOKEN, FakeGraph, run_fake_graph
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import SECRET, confirm_booking, make_app, start_worker
from tests.web_support import run_server
from workers.broadcasts import (
    BroadcastKeys,
    cancel_broadcast,
    create_broadcast,
    find_audience,
    interleave,
    progress,
    progress_bar,
    resume_broadcast,
)
from workers.queues import QUEUE

TEXTS = {"id": "Kantor tutup hari Jumat.", "en": "The office is closed on Friday."}
STAFF_CHAT = 999_999

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


@dataclass
class World:
    app: App
    queue: Queue
    telegram: FakeTelegram
    graph: FakeGraph
    env: dict[str, str]

    async def book(self, account: str, locale: str = "id", day_index: int = 0) -> Booking:
        return await confirm_booking(
            self.app,
            account,
            hashlib.sha256(account.encode()).hexdigest()[:32],  # one NIK each
            locale=locale,
            day_index=day_index,
            capacity=100_000,  # room for a big audience in one window
        )

    async def book_many(self, channel: str, count: int, first: int = 1) -> None:
        async def one(n: int) -> None:
            await self.book(f"{channel}:{n}", "en" if n % 2 else "id")

        for start in range(first, first + count, 50):  # within the client's connection pool
            await asyncio.gather(*(one(n) for n in range(start, min(start + 50, first + count))))

    async def broadcast(self, audience: str = "active", starter: str = "cli") -> str:
        return await create_broadcast(
            self.app, self.queue, audience=audience, texts=TEXTS, starter=starter
        )

    async def worker(self, *args: str, **env: str) -> asyncio.subprocess.Process:
        return await start_worker({**self.env, **env}, *args)

    async def burst(self, **env: str) -> None:
        process = await self.worker("--burst", **env)
        assert await asyncio.wait_for(process.wait(), 120) == 0

    def telegram_received(self) -> Counter[str]:
        return Counter(
            str(c.params["chat_id"])
            for c in self.telegram.sent_texts()
            if str(c.params["chat_id"]) != str(STAFF_CHAT)
        )

    def whatsapp_received(self) -> Counter[str]:
        return Counter(str(r["json"]["to"]) for r in self.graph.accepted)


@pytest.fixture
async def open_world(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[World]]]:
    async with AsyncExitStack() as stack:

        async def opener(middleware: Middleware | None = None, whatsapp: bool = True) -> World:
            telegram = FakeTelegram()
            api = telegram.app()
            if middleware is not None:
                api.middlewares.append(middleware)
            base = await stack.enter_async_context(run_server(api))
            graph = await stack.enter_async_context(run_fake_graph())
            app = make_app(redis, clock, tmp_path)
            redis_sync = SyncRedis.from_url(redis_server.url)
            stack.callback(redis_sync.close)
            env = {
                **os.environ,
                "ANTREAN_REDIS_URL": redis_server.url,
                "ANTREAN_SECRET_KEY": SECRET,
                "ANTREAN_VAR_DIR": str(tmp_path),
                "ANTREAN_TELEGRAM_TOKEN": TOKEN,
                "ANTREAN_TELEGRAM_API_BASE": base,
            }
            if whatsapp:
                env |= {
                    "ANTREAN_WHATSAPP_TOKEN": graph.token,
                    "ANTREAN_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
                    "ANTREAN_WHATSAPP_APP_SECRET": APP_SECRET,
                    "ANTREAN_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                    "ANTREAN_WHATSAPP_API_BASE": graph.base_url,
                }
            return World(app, Queue(QUEUE, connection=redis_sync), telegram, graph, env)

        yield opener


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


async def test_two_thousand_recipients_at_the_platforms_rates(
    open_world: Callable[..., Awaitable[World]],
) -> None:
    world = await open_world()
    world.telegram.enforce_rate(30)
    world.graph.enforce_rate(80)
    await world.book_many("telegram", 1000)
    await world.book_many("whatsapp", 1000, first=628_1200_0000)
    bid = await world.broadcast(starter=f"telegram:{STAFF_CHAT}")
    started = time.monotonic()
    workers = [await world.worker("--burst") for _ in range(2)]
    for process in workers:
        assert await asyncio.wait_for(process.wait(), 150) == 0
    elapsed = time.monotonic() - started

    p = await progress(world.app, bid)
    assert p is not None and p.finished and p.status == "done"
    assert (p.total, p.sent, p.failed, p.undeliverable, p.unconfirmed) == (2000, 2000, 0, 0, 0)
    telegram, whatsapp = world.telegram_received(), world.whatsapp_received()
    assert len(telegram) == 1000 and set(telegram.values()) == {1}
    assert len(whatsapp) == 1000 and set(whatsapp.values()) == {1}
    assert world.telegram.throttled == 0 and world.graph.throttled == 0
    # Each worker started its channels once, not once per job of its first batch.
    assert world.graph.lookups == 2
    # Each recipient in its booking's language (WhatsApp: the notice template in it).
    assert {c.params["text"] for c in world.telegram.sent_texts()[:2]} <= {*TEXTS.values()}
    for r in world.graph.accepted[:20]:
        template = r["json"]["template"]
        language = template["language"]["code"]
        assert template["components"][0]["parameters"][0]["text"] == TEXTS[language]
    tg_rate = rate(
        [c.at for c in world.telegram.sent_texts() if c.params["chat_id"] != str(STAFF_CHAT)]
    )
    wa_rate = rate([r["at"] for r in world.graph.accepted])
    print(f"\ntelegram {tg_rate:.1f}/s, whatsapp {wa_rate:.1f}/s, all in {elapsed:.1f}s")
    assert tg_rate >= 0.9 * 30
    assert wa_rate >= 0.9 * 80
    # The starter hears how far it got, each quarter once, then the tally.
    to_staff = [
        c.params["text"]
        for c in world.telegram.sent_texts()
        if c.params["chat_id"] == str(STAFF_CHAT)
    ]
    [tally] = [t for t in to_staff if "finished" in t]
    assert "2000/2000 sent" in tally
    quarters = [t for t in to_staff if "%" in t]
    assert 1 <= len(quarters) <= 3 and len(set(quarters)) == len(quarters)


async def test_a_worker_killed_mid_broadcast_leads_to_exactly_one_message_each(
    open_world: Callable[..., Awaitable[World]], redis: aioredis.Redis
) -> None:
    release = asyncio.Event()
    seen = {"sends": 0, "held": 0}

    @web.middleware
    async def freeze(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # the fake has recorded (sent) the message
        if request.path.endswith("/sendMessage"):
            seen["sends"] += 1
            if seen["sends"] > 130:
                # ... but from here on the worker never hears back.
                seen["held"] += 1
                await release.wait()
        return response

    world = await open_world(freeze, whatsapp=False)
    await world.book_many("telegram", 300)
    bid = await world.broadcast()
    fast = {"ANTREAN_TELEGRAM_RATE": "300"}
    process = await world.worker(**fast)
    keys = BroadcastKeys(bid)

    async def in_flight() -> int:
        return sum(1 for v in await redis.hvals(keys.state) if v.startswith("sending:"))

    # Wait until every claimed send of the frozen batch has reached the fake.
    stable = 0
    deadline = time.monotonic() + 60
    while stable < 5:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
        held = seen["held"]
        stable = stable + 1 if held and held == await in_flight() else 0
    os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
    release.set()
    held = seen["held"]

    # RQ runs the batch again (here at once, by hand; RQ itself once it notices the dead worker).
    assert await resume_broadcast(world.app, world.queue, bid) == [1]
    await world.burst(**fast)

    received = world.telegram_received()
    assert len(received) == 300 and set(received.values()) == {1}
    p = await progress(world.app, bid)
    assert p is not None and p.finished and p.status == "done"
    # The frozen sends may or may not have arrived, as far as the worker could know: unconfirmed.
    assert (p.sent, p.unconfirmed, p.failed) == (300 - held, held, 0)
    assert p.handled == p.total == 300


async def test_cancelling_stops_the_remaining_sends(
    open_world: Callable[..., Awaitable[World]],
) -> None:
    world = await open_world(whatsapp=False)
    await world.book_many("telegram", 150)
    bid = await world.broadcast()
    process = await world.worker("--burst", ANTREAN_TELEGRAM_RATE="20")
    deadline = time.monotonic() + 30
    while len(world.telegram.sent_texts()) < 10:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert await cancel_broadcast(world.app, bid)
    assert not await cancel_broadcast(world.app, bid)  # once
    assert await asyncio.wait_for(process.wait(), 60) == 0
    p = await progress(world.app, bid)
    assert p is not None and p.finished and p.status == "cancelled"
    sent = len(world.telegram.sent_texts())
    assert p.sent == sent < 30
    assert p.cancelled == 150 - sent and p.handled == 150
    assert "cancelled" in progress_bar(p)


async def test_blocked_and_unknown_recipients_are_undeliverable_and_not_retried(
    open_world: Callable[..., Awaitable[World]],
) -> None:
    world = await open_world()
    await world.book_many("telegram", 4)
    await world.book_many("whatsapp", 3, first=62811)
    world.telegram.block(2)
    world.graph.fail("62812", 131026, times=10)
    bid = await world.broadcast()
    await world.burst()
    p = await progress(world.app, bid)
    assert p is not None and p.status == "done"
    assert (p.sent, p.undeliverable, p.failed) == (5, 2, 0)
    # One attempt each: a refusal of that kind is final.
    assert len(world.telegram.of("sendMessage", 2)) == 1
    assert len(world.graph.to("62812")) == 1


async def test_a_channel_that_is_not_configured_fails_its_recipients(
    open_world: Callable[..., Awaitable[World]], caplog: pytest.LogCaptureFixture
) -> None:
    world = await open_world(whatsapp=False)
    await world.book_many("telegram", 2)
    await world.book_many("whatsapp", 3, first=62811)
    bid = await world.broadcast()
    await world.burst()
    p = await progress(world.app, bid)
    assert p is not None and p.status == "done"
    assert (p.sent, p.failed) == (2, 3)
    assert world.graph.accepted == []


async def test_a_job_for_a_missing_broadcast_does_no_harm(
    open_world: Callable[..., Awaitable[World]],
) -> None:
    world = await open_world(whatsapp=False)
    job = world.queue.enqueue("workers.broadcasts.send_batch", "gone", 0)
    await world.burst()
    job.refresh()
    assert job.get_status().value == "finished" and job.return_value() == "missing"


async def test_the_audience(open_world: Callable[..., Awaitable[World]]) -> None:
    world = await open_world(whatsapp=False)
    first = await world.book("telegram:1", "en")
    await world.book("telegram:2", day_index=1)
    gone = await world.book("telegram:3")
    await world.app.seats.cancel(gone.id, account=None)
    day = first.day.isoformat()

    async def accounts(audience: str) -> set[str]:
        return {r.account for r in await find_audience(world.app, audience)}

    assert await accounts("active") == {"telegram:1", "telegram:2"}
    assert await accounts(f"day:{day}") == {"telegram:1"}
    assert await accounts(f"window:{day}:{first.window}") == {"telegram:1"}
    assert await accounts(f"window:{day}:nope") == set()
    [r] = await find_audience(world.app, f"day:{day}")
    assert r.locale == "en"


def test_recipients_are_spread_over_the_batches_by_channel_rate() -> None:
    from workers.broadcasts import Recipient

    people = [Recipient(f"telegram:{n}", "id") for n in range(30)] + [
        Recipient(f"whatsapp:{n}", "id") for n in range(80)
    ]
    ordered = interleave(people, {"telegram": 30.0, "whatsapp": 80.0})
    first_half = Counter(r.account.partition(":")[0] for r in ordered[:55])
    assert 14 <= first_half["telegram"] <= 16


async def test_a_telegram_429_in_a_broadcast_pauses_only_the_channel_bucket(
    open_world: Callable[..., Awaitable[World]], redis: aioredis.Redis
) -> None:
    world = await open_world(whatsapp=False)
    world.telegram.rate_limit(5, times=1, retry_after=3)
    base = world.env["ANTREAN_TELEGRAM_API_BASE"]
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(redis, world.app.clock, {"telegram": 30.0})
    channel = TelegramChannel(bot, None, sleep=sleep, pacer=pacer)
    try:
        assert await channel.deliver_paced("5", "hello", locale="id")
        assert slept == [3.0]
        assert await redis.hget(channel_key("telegram"), "until") is not None
        assert await redis.hget(recipient_key("telegram", "5"), "until") is None
        # In a conversation the same 429 concerns the chat: its bucket is paused instead.
        world.telegram.rate_limit(6, times=1, retry_after=2)
        await channel.send("6", [Text("hi")])
        assert await redis.hget(recipient_key("telegram", "6"), "until") is not None
    finally:
        await channel.aclose()


async def test_the_broadcast_command_shows_progress_until_the_workers_are_done(
    open_world: Callable[..., Awaitable[World]],
) -> None:
    world = await open_world(whatsapp=False)
    for n in range(1, 6):
        await world.book(f"telegram:{n}", "en" if n % 2 else "id")
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "broadcast",
        "active",
        "--text-id",
        TEXTS["id"],
        "--text-en",
        TEXTS["en"],
        env=world.env,
        stderr=asyncio.subprocess.PIPE,
    )
    for _ in range(600):  # the command creates and enqueues the broadcast (bounded wait)
        if world.queue.count:
            break
        await asyncio.sleep(0.05)
    await world.burst()
    _, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err
    assert "5/5" in err.decode() and "sent 5" in err.decode()
    assert len(world.telegram_received()) == 5
