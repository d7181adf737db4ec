"""The per-process availability snapshot: patched by the seat scripts' announcements, trusted
only while its subscription is live, its holds unexpired, its age and day current."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.availability import snapshot_seats
from bot.booking.seats import Availability, SeatBook
from bot.compose import seat_subscription
from bot.core.clock import ManualClock, ms
from bot.core.messages import Choices
from bot.infra.embedded import RedisServer
from bot.infra.keys import OfficeKeys
from bot.infra.pubsub import Subscription
from tests.counting import CountingRedis
from tests.support import User, make_app, make_engine


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``check()`` to hold, looking every 5 ms (AssertionError after ``seconds``)."""
    for _ in range(int(seconds / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    assert check()


async def live(app: App) -> Subscription:
    subscription = seat_subscription(app)
    subscription.start()
    async with asyncio.timeout(5):
        await subscription.wait_live()
    return subscription


@pytest.fixture
async def counting(
    redis: aioredis.Redis, redis_server: RedisServer
) -> AsyncIterator[CountingRedis]:
    """The process under test's client (``redis``, the other process's, has emptied the db)."""
    client = CountingRedis.from_url(redis_server.url, decode_responses=True, protocol=3)
    assert isinstance(client, CountingRedis)
    yield client
    await client.aclose()


@pytest.fixture
async def app(counting: CountingRedis, clock: ManualClock, tmp_path: Path) -> AsyncIterator[App]:
    app = make_app(counting, clock, tmp_path)
    subscription = await live(app)
    yield app
    await subscription.stop()


def first_service(app: App) -> tuple[str, list[date]]:
    return app.office.services[0].id, app.office.bookable_days(app.clock.now())


async def seats(app: App, days: list[date] | None = None) -> list[dict[str, Availability]]:
    service, bookable = first_service(app)
    found, _ = await snapshot_seats(
        app.office, app.seats, app.snapshot, app.clock, service, days or bookable
    )
    return found


def kept_held(app: App, window: str) -> int | None:
    """What the snapshot itself keeps of the window's held seats on the first day (no read)."""
    service, days = first_service(app)
    now = app.clock.now()
    key = OfficeKeys(app.office.id).day(days[0].isoformat(), service)
    try:
        kept, _ = app.snapshot.get(key, ms(now), app.office.local_today(now))
    except KeyError:
        return None
    return kept[window].held


async def hold_elsewhere(redis: aioredis.Redis, app: App, clock: ManualClock, ttl_ms: int) -> str:
    """Another process holds the first window of the first day; its window id."""
    service, days = first_service(app)
    window = app.office.windows(days[0])[0]
    await SeatBook(redis, app.office.id, clock).hold(
        hold_id="h1",
        day=days[0],
        service=service,
        window=window.id,
        default_capacity=window.capacity(service),
        account="console:other",
        max_active=1,
        ttl_ms=ttl_ms,
    )
    return window.id


async def test_a_hold_elsewhere_patches_the_snapshot_without_a_read(
    app: App, counting: CountingRedis, redis: aioredis.Redis, clock: ManualClock
) -> None:
    before = await seats(app)
    trips = counting.round_trips
    assert await seats(app) == before and counting.round_trips == trips  # all from the snapshot
    heard = app.snapshot.announcements
    window = await hold_elsewhere(redis, app, clock, ttl_ms=600_000)
    await until(lambda: app.snapshot.announcements > heard)
    after = await seats(app)
    assert counting.round_trips == trips
    assert after[0][window].held == before[0][window].held + 1
    assert after[1:] == before[1:]
    # What Redis says, read afresh.
    assert after == await app.seats.availability(
        [
            (d, first_service(app)[0], {w.id: w.capacity(first_service(app)[0]) for w in ws})
            for d in first_service(app)[1]
            for ws in [app.office.windows(d)]
        ]
    )


async def test_an_expired_hold_makes_its_entry_untrusted(
    app: App, counting: CountingRedis, redis: aioredis.Redis, clock: ManualClock
) -> None:
    heard = app.snapshot.announcements
    window = await hold_elsewhere(redis, app, clock, ttl_ms=20_000)
    # (A read that an announcement of its day-service overtakes is not kept: wait for it.)
    await until(lambda: app.snapshot.announcements > heard)
    [held] = await seats(app, first_service(app)[1][:1])
    assert held[window].held == 1
    trips = counting.round_trips
    clock.advance(timedelta(seconds=19))  # (the entries' maximum age: 30 s)
    assert (await seats(app, first_service(app)[1][:1]))[0][window].held == 1
    assert counting.round_trips == trips
    clock.advance(timedelta(seconds=1))  # the hold expires: no announcement, a read
    [freed] = await seats(app, first_service(app)[1][:1])
    assert freed[window].held == 0 and counting.round_trips == trips + 1


async def test_entries_are_read_again_past_their_maximum_age(
    app: App, counting: CountingRedis, clock: ManualClock
) -> None:
    await seats(app)
    trips = counting.round_trips
    clock.advance(timedelta(seconds=29))
    await seats(app)
    assert counting.round_trips == trips
    clock.advance(timedelta(seconds=1))
    await seats(app)
    assert counting.round_trips == trips + 1


async def test_closing_a_day_drops_its_entries(
    app: App, counting: CountingRedis, redis: aioredis.Redis, clock: ManualClock
) -> None:
    _, days = first_service(app)
    await seats(app)
    heard = app.snapshot.announcements
    await SeatBook(redis, app.office.id, clock).close_day(days[1])
    await until(lambda: app.snapshot.announcements > heard)
    trips = counting.round_trips
    found = await seats(app)
    assert counting.round_trips == trips + 1  # only the closed day is read again
    assert all(a.capacity == 0 for a in found[1].values())
    assert all(a.capacity > 0 for a in found[0].values())


async def test_a_lost_subscription_falls_back_to_reads_and_recovers(
    app: App, counting: CountingRedis, redis: aioredis.Redis
) -> None:
    await seats(app)
    trips = counting.round_trips
    await seats(app)
    assert counting.round_trips == trips
    await redis.client_kill_filter(_type="pubsub")
    await until(lambda: not app.snapshot.live)
    await seats(app)
    await seats(app)
    assert counting.round_trips == trips + 2  # every prompt reads while not live
    await until(lambda: app.snapshot.live)  # subscribed again: all dropped, then kept again
    await seats(app)
    await seats(app)
    assert counting.round_trips == trips + 3


async def test_the_prompts_are_the_same_with_and_without_the_snapshot(
    app: App, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    plain = make_app(redis, clock, tmp_path)
    assert not plain.snapshot.live

    async def prompts(app: App, user_id: str) -> list[Choices]:
        engine, recorder = make_engine(app)
        user = User(engine, recorder, user_id)
        shown: list[Choices] = []
        for answer in ("halo", "1", "1", "1"):
            await user.says(answer)
            shown.append(user.last_choices())
        await user.says("cancel")
        return shown

    assert await prompts(app, "2001") == await prompts(plain, "2002")
    await hold_elsewhere(redis, app, clock, ttl_ms=600_000)
    heard = app.snapshot.announcements
    await until(lambda: app.snapshot.announcements > heard)
    assert await prompts(app, "2003") == await prompts(plain, "2004")


async def test_a_hold_elsewhere_reaches_the_snapshot(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    """Any topology (collected again on a Redis Cluster in tests/bot/infra/test_cluster.py)."""
    app = make_app(redis, clock, tmp_path)
    subscription = await live(app)
    try:
        before = await seats(app)
        window = await hold_elsewhere(redis, app, clock, ttl_ms=600_000)
        # Waited for by what the snapshot keeps, not by a count of announcements: on a Cluster a
        # message published before this subscription may still reach it through the bus.
        await until(lambda: kept_held(app, window) == before[0][window].held + 1)
        after = await seats(app)
        assert after[0][window].held == before[0][window].held + 1
    finally:
        await subscription.stop()
