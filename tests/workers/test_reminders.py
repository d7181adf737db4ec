"""Reminders on a real RQ worker process, sending to the fake Bot API over loopback."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from rq import Queue
from rq.registry import ScheduledJobRegistry

from bot.booking.app import App
from bot.booking.reminders import Due, due_reminders
from bot.booking.seats import Booking
from bot.core.clock import ManualClock, ms
from bot.infra.embedded import RedisServer
from bot.infra.keys import OfficeKeys
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import SECRET, confirm_booking, make_app, start_worker
from tests.web_support import run_server
from workers.periodic import TICK
from workers.queues import QUEUE
from workers.reminders import job_id, plan_reminders

CHAT = 555


@dataclass
class World:
    app: App
    queue: Queue
    fake: FakeTelegram
    env: dict[str, str]
    clock: ManualClock

    async def book(self, nik_hash: str = "a" * 32, account: str = f"telegram:{CHAT}") -> Booking:
        """A booking with its reminders on the due list, as the desk makes one."""
        return await confirm_booking(self.app, account, nik_hash, remind=True)

    def due(self, booking: Booking, offset: int, after: timedelta = timedelta(seconds=1)) -> None:
        """Move the injected clock to ``after`` past when the reminder is due."""
        start = self.app.office.window_start(booking.day, booking.window)
        self.clock.set(start - timedelta(minutes=offset) + after)

    def plan(self) -> list[str]:
        return plan_reminders(self.queue, self.app.office, self.clock.now(), 2 * TICK)

    def waiting(self) -> list[tuple[str, float]]:
        key = OfficeKeys(self.app.office.id).reminders
        return [
            (m.decode(), s) for m, s in self.queue.connection.zrange(key, 0, -1, withscores=True)
        ]

    async def worker(self, *args: str) -> asyncio.subprocess.Process:
        return await start_worker(self.env, *args)

    async def burst(self) -> None:
        process = await self.worker("--burst")
        assert await asyncio.wait_for(process.wait(), 60) == 0

    def reminders_sent(self) -> list[str]:
        return [
            c.params["text"]
            for c in self.fake.of("sendMessage", CHAT)
            if "Pengingat" in c.params["text"]
        ]


Middleware = Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    Awaitable[web.StreamResponse],
]


async def open_world(
    redis_server: RedisServer,
    client: aioredis.Redis,
    clock: ManualClock,
    tmp_path: Path,
    middleware: Middleware | None = None,
) -> AsyncIterator[World]:
    fake = FakeTelegram()
    api = fake.app()
    if middleware is not None:
        api.middlewares.append(middleware)
    async with run_server(api) as base:
        app = make_app(client, clock, tmp_path, telegram_token=TOKEN, telegram_api_base=base)
        redis_sync = redis.Redis.from_url(redis_server.url)
        queue = Queue(QUEUE, connection=redis_sync)
        env = {
            **os.environ,
            "ANTREAN_REDIS_URL": redis_server.url,
            "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_TELEGRAM_TOKEN": TOKEN,
            "ANTREAN_TELEGRAM_API_BASE": base,
            "ANTREAN_VAR_DIR": str(tmp_path),
        }
        yield World(app, queue, fake, env, clock)
        redis_sync.close()


@pytest.fixture
async def world(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[World]:
    async for w in open_world(redis_server, redis, clock, tmp_path):
        yield w


async def test_a_booking_gets_its_reminders_on_the_due_list_and_one_message_each(
    world: World,
) -> None:
    booking = await world.book()
    office = world.app.office
    offsets = office.booking.reminder_offsets_minutes
    start = office.window_start(booking.day, booking.window)
    # Put there by the booking's own script: nothing was scheduled during the turn.
    assert sorted(world.waiting()) == sorted(
        (f"{booking.id}|{booking.day.isoformat()}|{booking.window}|{o}",
         float(ms(start - timedelta(minutes=o))))
        for o in offsets
    )  # fmt: skip
    assert ScheduledJobRegistry(queue=world.queue).get_job_ids() == []
    # Long before it is due, a tick plans nothing.
    assert world.plan() == []
    # The evening before: that reminder becomes one job, however often it is planned.
    world.due(booking, max(offsets))
    [jid] = world.plan()
    entry = f"{booking.id}|{booking.day.isoformat()}|{booking.window}|{max(offsets)}"
    assert jid == job_id(office.id, Due.parse(entry, 0))
    assert world.plan() == []
    await world.burst()
    # Two hours before: the other one.
    world.due(booking, min(offsets))
    assert len(world.plan()) == 1
    await world.burst()
    texts = world.reminders_sent()
    assert len(texts) == len(offsets)
    assert all(booking.queue_number in t and "Budi" not in t for t in texts)
    assert world.waiting() == []


async def test_a_reminder_made_due_before_the_booking_is_left_out(world: World) -> None:
    office = world.app.office
    day = office.bookable_days(world.clock.now())[0]
    window = office.windows(day)[0]
    offsets = office.booking.reminder_offsets_minutes
    # Booked between the two reminders' instants: only the later one is still ahead.
    between = office.window_start(day, window.id) - timedelta(minutes=min(offsets) + 1)
    assert [o for o, _ in due_reminders(office, day, window.id, ms(between))] == [min(offsets)]
    assert due_reminders(office, day, window.id, ms(office.window_start(day, window.id))) == []


async def test_a_cancelled_booking_gets_none(world: World) -> None:
    booking = await world.book()
    offset = min(world.app.office.booking.reminder_offsets_minutes)
    await world.app.seats.cancel(booking.id, account=None)
    world.due(booking, offset)
    # Its entries are found dead and dropped: no job.
    assert world.plan() == [] and world.waiting() == []
    # Even a job made before the cancel sends nothing.
    world.queue.enqueue(
        "workers.reminders.send_reminder",
        world.app.office.id,
        booking.id,
        booking.day.isoformat(),
        booking.window,
        offset,
    )
    await world.burst()
    assert world.reminders_sent() == []


async def test_a_rescheduled_booking_is_reminded_at_the_new_time_only(world: World) -> None:
    booking = await world.book()
    office = world.app.office
    new_day: date = office.bookable_days(world.clock.now())[1]
    window = office.windows(new_day)[0]
    offset = min(office.booking.reminder_offsets_minutes)
    moved = await world.app.desk.move(booking, account=booking.account, day=new_day, window=window)
    # At the old time: the old entries are found moved and dropped, nothing is planned.
    world.due(booking, offset)
    assert world.plan() == []
    assert {m.split("|")[1] for m, _ in world.waiting()} == {new_day.isoformat()}
    # A job for the old time that runs anyway is skipped.
    world.queue.enqueue(
        "workers.reminders.send_reminder",
        office.id,
        booking.id,
        booking.day.isoformat(),
        booking.window,
        offset,
    )
    await world.burst()
    assert world.reminders_sent() == []
    # At the new time: one reminder per offset.
    world.due(moved, offset)
    assert len(world.plan()) == len(office.booking.reminder_offsets_minutes)
    await world.burst()
    assert len(world.reminders_sent()) == len(office.booking.reminder_offsets_minutes)


async def test_once_the_visit_has_begun_its_reminders_are_dropped(world: World) -> None:
    booking = await world.book()
    world.clock.set(world.app.office.window_start(booking.day, booking.window))
    assert world.plan() == [] and world.waiting() == []


async def test_a_worker_killed_after_sending_leads_to_exactly_one_reminder(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    received, release = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def slow_send(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.endswith("/sendMessage"):
            response = await handler(request)  # the fake has recorded the message: it is sent
            received.set()
            await release.wait()  # ... but the worker never hears back before it dies
            return response
        return await handler(request)

    async for world in open_world(redis_server, redis, clock, tmp_path, slow_send):
        booking = await world.book()
        offset = max(world.app.office.booking.reminder_offsets_minutes)
        world.due(booking, offset)
        assert len(world.plan()) == 1
        process = await world.worker()
        await asyncio.wait_for(received.wait(), 60)
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        release.set()
        # RQ runs the job again (here: requeued by hand, as after an abandoned-job cleanup).
        world.queue.enqueue(
            "workers.reminders.send_reminder",
            world.app.office.id,
            booking.id,
            booking.day.isoformat(),
            booking.window,
            offset,
        )
        await world.burst()
        assert len(world.reminders_sent()) == 1
