"""The chat notices of calls to a counter (workers/calls.py) over the fake Bot API: the applicant
called is told once per call, those few numbers away once per booking, even if the job runs
twice; and the desk asks for them through the job queue (RQ, as closure notices)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import redis as sync_redis
import redis.asyncio as aioredis
from rq import Queue

from bot.booking.app import App
from bot.booking.calls import Visit
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.errors import StorageError
from bot.infra.embedded import RedisServer, free_port
from tests.channels.drivers.telegram import TelegramDriver
from tests.handlers.test_staff import STAFF, book, telegram, visit_day
from tests.support import make_app
from tests.workers.test_reminders import CHAT, World, open_world
from workers import calls
from workers.calls import tell_called_core, tell_served_core
from workers.jobs import RqJobs

__all__ = ["telegram"]  # fixtures

CHATS = [7001, 7002, 7003, 7004, 7005, 7006]


async def checked_in(app: App, clock: ManualClock, count: int) -> list[Booking]:
    bookings = [
        await book(app, f"telegram:{chat}", f"{chat:032d}", locale="en" if i == 0 else "id")
        for i, chat in enumerate(CHATS[:count])
    ]
    visit_day(app, bookings[0], clock)
    for booking in bookings:
        await app.desk.check_in(booking.id, staff=STAFF)
    return bookings


async def called_at_the_counter(world: World, clock: ManualClock) -> tuple[Booking, Visit]:
    """One applicant booked, checked in on the visit's day and called to counter 2, the call's
    notice going through the world's real job queue."""
    app = world.app
    app.desk.jobs = RqJobs(world.queue)
    booking = await book(app, f"telegram:{CHAT}", "c" * 32)
    visit_day(app, booking, clock)
    await app.desk.check_in(booking.id, staff=STAFF)
    return booking, await app.desk.call_next(2, staff=STAFF)


def texts(driver: TelegramDriver, chat: int) -> list[str]:
    return [call.params["text"] for call in driver.fake.of("sendMessage", chat)]


async def test_the_called_applicant_is_told_once_per_call(
    telegram: tuple[TelegramDriver, App], clock: ManualClock
) -> None:
    driver, app = telegram
    channels = {"telegram": driver.channel}  # type: ignore[attr-defined]
    [booking] = await checked_in(app, clock, 1)
    visit = await app.desk.call_next(3, staff=STAFF)
    assert visit.id == booking.id
    day = booking.day
    assert await tell_called_core(app, channels, day, visit.id, visit.calls) == {"sent": 1}
    # The job again (an RQ retry, a worker dying after the send): nobody is told twice.
    assert await tell_called_core(app, channels, day, visit.id, visit.calls) == {"skipped": 1}
    assert texts(driver, CHATS[0]) == [f"Number {booking.queue_number}, please go to counter 3."]
    # A recall is a new call: told again, once.
    again = await app.desk.recall(3, staff=STAFF)
    assert await tell_called_core(app, channels, day, again.id, again.calls) == {"sent": 1}
    assert await tell_called_core(app, channels, day, again.id, again.calls) == {"skipped": 1}
    assert len(texts(driver, CHATS[0])) == 2
    # Served: a late job for the call tells nobody.
    await app.desk.served(3, staff=STAFF)
    assert await tell_called_core(app, channels, day, again.id, 3) == {}


async def test_those_three_numbers_away_are_told_once(
    telegram: tuple[TelegramDriver, App], clock: ManualClock
) -> None:
    driver, app = telegram
    channels = {"telegram": driver.channel}  # type: ignore[attr-defined]
    bookings = await checked_in(app, clock, 6)
    day = bookings[0].day
    first = await app.desk.call_next(1, staff=STAFF)
    # Called: the first; waiting: 2nd (next), 3rd (1 ahead), 4th (2 ahead), 5th (3 ahead); the
    # 6th has four ahead: not yet.
    tally = await tell_called_core(app, channels, day, first.id, first.calls)
    assert tally == {"sent": 5}
    assert texts(driver, CHATS[1]) == [
        f"Nomor {bookings[1].queue_number}: Anda berikutnya. Mohon bersiap di ruang tunggu."
    ]
    assert "tinggal 3 nomor lagi" in texts(driver, CHATS[4])[0]
    assert texts(driver, CHATS[5]) == []
    # The job again: nobody is told twice.
    assert await tell_called_core(app, channels, day, first.id, first.calls) == {"skipped": 5}
    # The next call: the 6th is three numbers away now, told once; the others not again.
    second = await app.desk.call_next(2, staff=STAFF)
    assert await tell_called_core(app, channels, day, second.id, second.calls) == {
        "sent": 2,
        "skipped": 3,
    }
    assert "tinggal 3 nomor lagi" in texts(driver, CHATS[5])[0]
    assert texts(driver, CHATS[1])[-1].startswith(f"Nomor {bookings[1].queue_number}, silakan")
    assert sum(len(texts(driver, chat)) for chat in CHATS) == 7


async def test_a_call_asks_for_its_notices_through_the_job_queue(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    queue = Queue(connection=sync_redis.Redis(port=redis_server.port))
    jobs = RqJobs(queue)
    app.desk.jobs = jobs
    [booking] = await checked_in(app, clock, 1)
    visit = await app.desk.call_next(2, staff=STAFF)
    await app.desk.recall(2, staff=STAFF)
    queued = [(job.func, job.args) for job in queue.jobs]
    day = booking.day.isoformat()
    assert queued == [
        (calls.tell_called, (app.office.id, day, visit.id, "1")),
        (calls.tell_called, (app.office.id, day, visit.id, "2")),
    ]
    queue.connection.close()


async def test_notices_asked_for_at_once_are_queued_together_each_once(
    redis_server: RedisServer,
) -> None:
    # Twenty counters calling at once: each notice is queued before its call returns, those
    # asked for while a batch is being queued go in the next one (one pipeline), and every
    # job is there once with its retries.
    conn = sync_redis.Redis(port=redis_server.port)
    conn.flushall()
    queue = Queue(connection=conn)
    batches: list[int] = []
    enqueue_many = queue.enqueue_many

    def counted(datas: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
        batches.append(len(datas))
        return enqueue_many(datas, *args, **kwargs)

    queue.enqueue_many = counted  # type: ignore[method-assign]
    jobs = RqJobs(queue)
    day = date(2030, 3, 4)
    await asyncio.gather(*(jobs.tell_called("o", day, f"b{n}", 1) for n in range(20)))
    assert sum(batches) == 20 and len(batches) < 20
    queued = Queue(connection=conn).jobs
    assert sorted(job.args[2] for job in queued) == sorted(f"b{n}" for n in range(20))
    assert {(job.retries_left, job.failure_ttl, job.result_ttl) for job in queued} == {
        (3, 7 * 24 * 3600, 0)
    }
    conn.close()


async def test_a_notice_the_queue_cannot_take_fails_its_caller() -> None:
    # Redis gone: every caller of the batch gets the storage error (the call itself stands).
    conn = sync_redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=None)
    jobs = RqJobs(Queue(connection=conn))
    results = await asyncio.gather(
        *(jobs.tell_served("o", date(2030, 3, 4), f"b{n}") for n in range(3)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [StorageError] * 3
    conn.close()


async def test_a_batch_that_fails_otherwise_never_leaves_its_callers_waiting(
    redis_server: RedisServer,
) -> None:
    conn = sync_redis.Redis(port=redis_server.port)
    queue = Queue(connection=conn)

    def broken(datas: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
        raise ValueError("cannot queue")

    queue.enqueue_many = broken  # type: ignore[method-assign]
    jobs = RqJobs(queue)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(jobs.tell_called("o", date(2030, 3, 4), f"b{n}", 1) for n in range(3)),
            return_exceptions=True,
        ),
        5,
    )
    assert [type(r) for r in results] == [ValueError] * 3
    conn.close()


async def test_a_real_worker_sends_the_call_notice_once(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async for world in open_world(redis_server, redis, clock, tmp_path):
        app = world.app
        booking, visit = await called_at_the_counter(world, clock)
        await world.burst()
        wanted = f"Nomor {booking.queue_number}, silakan ke Loket 2."
        assert [c.params["text"] for c in world.fake.of("sendMessage", CHAT)] == [wanted]
        # The same job again (a retry, a job queued twice): nobody is told twice.
        await app.desk.jobs.tell_called(app.office.id, booking.day, visit.id, visit.calls)
        await world.burst()
        assert len(world.fake.of("sendMessage", CHAT)) == 1


async def test_served_asks_for_the_survey_invitation_through_the_job_queue(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    queue = Queue(connection=sync_redis.Redis(port=redis_server.port))
    app.desk.jobs = RqJobs(queue)
    first, second = await checked_in(app, clock, 2)
    await app.desk.call_next(2, staff=STAFF)
    await app.desk.counter_no_show(2, staff=STAFF)  # no invitation for a no-show
    await app.desk.call_next(2, staff=STAFF)
    await app.desk.served(2, staff=STAFF)
    served = [(job.func, job.args) for job in queue.jobs if job.func is not calls.tell_called]
    assert served == [(calls.tell_served, (app.office.id, first.day.isoformat(), second.id))]
    queue.connection.close()


async def test_a_real_worker_invites_the_served_applicant_once(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async for world in open_world(redis_server, redis, clock, tmp_path):
        app = world.app
        booking, _ = await called_at_the_counter(world, clock)
        await app.desk.served(2, staff=STAFF)
        await world.burst()
        # The call's job ran after "served": it tells nobody; the thank-you with its buttons.
        [sent] = world.fake.of("sendMessage", CHAT)
        invitation = sent.params
        assert f"nomor {booking.queue_number} sudah selesai dilayani" in invitation["text"]
        buttons = [b[0] for b in invitation["reply_markup"]["inline_keyboard"]]
        assert [b["callback_data"] for b in buttons] == [
            f"ikm:go:{app.office.id}:{booking.id}",
            f"ikm:no:{app.office.id}:{booking.id}",
        ]
        # The same job again: nobody is invited twice; a booking not served gets nothing.
        await app.desk.jobs.tell_served(app.office.id, booking.day, booking.id)
        await world.burst()
        assert len(world.fake.of("sendMessage", CHAT)) == 1
        other = await book(app, "telegram:7002", "e" * 32)
        assert await tell_served_core(app, {}, other.id) == {}
