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
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import SECRET, confirm_booking, make_app, start_worker
from tests.web_support import run_server
from workers.queues import QUEUE
from workers.reminders import ReminderSchedule, RqBookingEvents, job_id

CHAT = 555


@dataclass
class World:
    app: App
    queue: Queue
    events: RqBookingEvents
    fake: FakeTelegram
    env: dict[str, str]
    clock: ManualClock

    async def book(self, nik_hash: str = "a" * 32, account: str = f"telegram:{CHAT}") -> Booking:
        booking = await confirm_booking(self.app, account, nik_hash)
        await self.events.booked(booking)
        return booking

    def due_now(self, booking: Booking, offset: int) -> None:
        """Move the injected clock to just before the reminder is due."""
        start = self.app.office.window_start(booking.day, booking.window)
        self.clock.set(start - timedelta(minutes=offset, milliseconds=1))

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
        events = RqBookingEvents(ReminderSchedule(queue, app.office, clock))
        env = {
            **os.environ,
            "ANTREAN_REDIS_URL": redis_server.url,
            "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_TELEGRAM_TOKEN": TOKEN,
            "ANTREAN_TELEGRAM_API_BASE": base,
            "ANTREAN_VAR_DIR": str(tmp_path),
        }
        yield World(app, queue, events, fake, env, clock)
        redis_sync.close()


@pytest.fixture
async def world(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[World]:
    async for w in open_world(redis_server, redis, clock, tmp_path):
        yield w


async def test_a_booking_gets_its_reminder(world: World) -> None:
    booking = await world.book()
    registry = ScheduledJobRegistry(queue=world.queue)
    offsets = world.app.office.booking.reminder_offsets_minutes
    assert sorted(registry.get_job_ids()) == sorted(
        job_id(world.app.office.id, booking.id, o) for o in offsets
    )
    # Re-schedule as if due now: the reminder closest to the visit.
    world.due_now(booking, min(offsets))
    await world.events.booked(booking)  # idempotent: replaces, never duplicates
    await world.burst()
    [text] = world.reminders_sent()
    assert booking.queue_number in text and "Budi" not in text


async def test_a_cancelled_booking_gets_none(world: World) -> None:
    booking = await world.book()
    offset = min(world.app.office.booking.reminder_offsets_minutes)
    world.due_now(booking, offset)
    await world.events.booked(booking)
    await world.app.seats.cancel(booking.id, account=None)
    await world.events.cancelled(booking)
    assert ScheduledJobRegistry(queue=world.queue).get_job_ids() == []
    # Even a job that escaped the cancel (say, already queued) sends nothing.
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
    moved = await world.app.seats.reschedule(
        booking.id,
        account=booking.account,
        day=new_day,
        window=window.id,
        default_capacity=window.capacity(booking.service),
    )
    await world.events.moved(moved)
    registry = ScheduledJobRegistry(queue=world.queue)
    start = office.window_start(new_day, window.id)
    offset = min(office.booking.reminder_offsets_minutes)
    jid = job_id(office.id, booking.id, offset)
    scheduled = registry.get_scheduled_time(jid)
    expected = start - timedelta(minutes=offset)
    # RQ counts real time; the offset from our clock's "now" is what was scheduled.
    assert abs((scheduled - expected).total_seconds() - _skew(world)) < 5
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


def _skew(world: World) -> float:
    from datetime import UTC, datetime

    return (datetime.now(UTC) - world.clock.now()).total_seconds()


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
        offset = min(world.app.office.booking.reminder_offsets_minutes)
        world.due_now(booking, offset)
        await world.events.booked(booking)
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
