"""The day at the counter against a real Redis: the roster, check-in onto the waiting line, and
calling (call next, recall, served, no-show) through the booking desk."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.calls import CallRefused, Calls, Visit
from bot.booking.errors import CheckInRefused
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from tests.support import make_app

STAFF = "console:desk"


@pytest.fixture
def app(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> App:
    return make_app(redis, clock, tmp_path, staff=f"{STAFF}=officer")


async def book_today(app: App, count: int, *, window: int = 0, service: int = 0) -> list[Booking]:
    """``count`` bookings of today's ``window``-th window, through the desk."""
    office = app.office
    day = office.local_today(app.clock.now())
    out = []
    for _ in range(count):
        booking_id = app.codes.new_id()
        out.append(
            await app.desk.book(
                hold_id=booking_id,
                day=day,
                service=office.services[service],
                window=office.windows(day)[window],
                account=f"console:{booking_id}",
                nik_hash=f"nik-{booking_id}",
                nik_last4="4321",
                name=f"Pemohon {booking_id}",
                locale="id",
            )
        )
    return out


async def test_call_next_takes_checked_in_applicants_in_number_order(app: App) -> None:
    late = await book_today(app, 1, window=1)
    early = await book_today(app, 3)
    # Checked in out of order: the later window's applicant came first.
    for booking in (late[0], early[2], early[0]):
        await app.desk.check_in(booking.id, staff=STAFF)
    called = [(await app.desk.call_next(c, staff=STAFF)).id for c in (1, 2, 3)]
    assert called == [early[0].id, early[2].id, late[0].id]
    with pytest.raises(CallRefused) as empty:
        await app.desk.call_next(4, staff=STAFF)
    assert empty.value.reason == "empty"
    rows = {v.id: v for v in await app.desk.roster()}
    assert [rows[b.id].status for b in early] == ["called", "active", "called"]
    assert (rows[late[0].id].counter, rows[late[0].id].calls) == (3, 1)


async def test_twenty_counters_calling_at_once_never_share_an_applicant(app: App) -> None:
    bookings = await book_today(app, 10)
    for booking in bookings:
        await app.desk.check_in(booking.id, staff=STAFF)
    results = await asyncio.gather(
        *(app.desk.call_next(c, staff=STAFF) for c in range(1, 21)), return_exceptions=True
    )
    visits = [r for r in results if isinstance(r, Visit)]
    refused = [r for r in results if isinstance(r, CallRefused)]
    assert len(visits) == 10 and len(refused) == 10
    assert sorted(v.id for v in visits) == sorted(b.id for b in bookings)
    assert len({v.counter for v in visits}) == 10
    assert {r.reason for r in refused} == {"empty"}
    # Each called at its own counter, in number order of the calls made.
    numbers = sorted(v.number for v in visits)
    assert numbers == sorted(b.number for b in bookings)


async def test_recall_served_and_no_show_rules(app: App) -> None:
    first, second, third = await book_today(app, 3)
    for booking in (first, second, third):
        await app.desk.check_in(booking.id, staff=STAFF)
    with pytest.raises(CallRefused) as none:
        await app.desk.served(1, staff=STAFF)
    assert none.value.reason == "none"
    called = await app.desk.call_next(1, staff=STAFF)
    assert called.id == first.id and called.status == "called"
    # A counter with a call open cannot call another.
    with pytest.raises(CallRefused) as busy:
        await app.desk.call_next(1, staff=STAFF)
    assert busy.value.reason == "busy" and busy.value.visit is not None
    assert busy.value.visit.id == first.id
    again = await app.desk.recall(1, staff=STAFF, booking_id=first.id)
    assert (again.id, again.calls, again.status) == (first.id, 2, "called")
    # A page that showed another booking is told so, and nothing changes.
    with pytest.raises(CallRefused) as stale:
        await app.desk.served(1, staff=STAFF, booking_id=second.id)
    assert stale.value.reason == "stale"
    done = await app.desk.served(1, staff=STAFF, booking_id=first.id)
    assert done.status == "served"
    with pytest.raises(CallRefused):
        await app.desk.recall(1, staff=STAFF)
    absent = await app.desk.call_next(1, staff=STAFF)
    gone = await app.desk.counter_no_show(1, staff=STAFF, booking_id=absent.id)
    assert (gone.id, gone.status) == (second.id, "no_show")
    # Another counter's call is not this counter's to end.
    await app.desk.call_next(2, staff=STAFF)
    with pytest.raises(CallRefused):
        await app.desk.served(1, staff=STAFF, booking_id=third.id)
    # A booking called, served or no-show cannot be checked in again.
    for booking in (first, second, third):
        with pytest.raises(CheckInRefused):
            await app.desk.check_in(booking.id, staff=STAFF)
    states = {v.id: v.status for v in await app.desk.roster()}
    assert states == {first.id: "served", second.id: "no_show", third.id: "called"}
    # Every action is in the audit stream, with the counter.
    entries = [(e.action, e.result, e.details.get("counter")) for e in await app.audit.latest()]
    for action in ("call", "recall", "served", "counter_no_show"):
        assert (action, "ok", "1") in entries
    assert ("call", "refused", "1") in entries and ("served", "refused", "1") in entries


async def test_a_cancelled_booking_is_marked_and_never_called(app: App) -> None:
    kept, cancelled = await book_today(app, 2)
    await app.desk.cancel(cancelled.id, account=cancelled.account)
    await app.desk.check_in(kept.id, staff=STAFF)
    rows = await app.desk.roster()
    states = [(v.id, v.status) for v in rows]
    assert states == [(kept.id, "checked_in"), (cancelled.id, "cancelled")]
    assert (await app.desk.call_next(5, staff=STAFF)).id == kept.id


async def test_counters_are_numbered_one_to_twenty(app: App) -> None:
    with pytest.raises(ValueError):
        await app.desk.call_next(21, staff=STAFF)
    with pytest.raises(ValueError):
        await app.desk.recall(0, staff=STAFF)


async def test_a_reader_gets_only_the_changes_and_stays_right(
    app: App, redis: aioredis.Redis, clock: ManualClock
) -> None:
    today = app.office.local_today(clock.now())
    first, second, third, fourth = await book_today(app, 4)
    reader = Calls(redis, app.office.id, clock)
    before = await reader.roster(today)
    assert [v.id for v in before] == [b.id for b in (first, second, third, fourth)]
    # Another process changes the day every way a booking can change.
    await app.desk.check_in(first.id, staff=STAFF)
    await app.desk.check_in(fourth.id, staff=STAFF)
    await app.desk.cancel(second.id, account=second.account)
    later = await book_today(app, 1, window=1)
    await app.desk.call_next(3, staff=STAFF)
    await app.desk.served(3, staff=STAFF)
    tomorrow = today + timedelta(days=1)
    window = app.office.windows(tomorrow)[0]
    await app.desk.move(third, account=third.account, day=tomorrow, window=window)
    read = await reader.roster(today)
    assert read == await Calls(redis, app.office.id, clock).roster(today)
    assert [(v.id, v.status) for v in read] == [
        (first.id, "served"),
        (second.id, "cancelled"),
        (fourth.id, "checked_in"),
        (later[0].id, "active"),
    ]
    # Only what changed since was read: the version it saw, then nothing new.
    version = int(await redis.get(f"antrean:{{o:{app.office.id}}}:roster:{today}:version"))
    assert await reader.roster(today) == read
    changes = await redis.zrangebyscore(
        f"antrean:{{o:{app.office.id}}}:roster:{today}:changes", f"({version - 2}", "+inf"
    )
    assert changes == [first.id, third.id]  # served at counter 3, then moved away
    assert [v.id for v in await reader.roster(tomorrow)] == [third.id]


async def test_bookings_made_before_rosters_join_them_once(
    app: App, redis: aioredis.Redis, clock: ManualClock
) -> None:
    today = app.office.local_today(clock.now())
    tomorrow = today + timedelta(days=1)
    first, second = await book_today(app, 2)
    cancelled, *_ = await book_today(app, 1, window=1)
    await app.desk.cancel(cancelled.id, account=cancelled.account)
    later = await app.desk.book(
        hold_id=app.codes.new_id(),
        day=tomorrow,
        service=app.office.services[0],
        window=app.office.windows(tomorrow)[0],
        account="console:tomorrow",
        nik_hash="nik-tomorrow",
        nik_last4="1234",
        name="Pemohon besok",
        locale="id",
    )
    # As a store written before rosters existed has them: no roster at all, no marker.
    tag = f"antrean:{{o:{app.office.id}}}"
    for day in (today, tomorrow):
        await redis.delete(
            f"{tag}:roster:{day}", f"{tag}:roster:{day}:version", f"{tag}:roster:{day}:changes"
        )
    await redis.delete(f"{tag}:rosters_backfilled")
    reader = Calls(redis, app.office.id, clock)
    # The active bookings are listed as booked, in call order, on their own day; the cancelled
    # one (no longer in the NIK index) is not brought back.
    assert [(v.id, v.status) for v in await reader.roster(today)] == [
        (first.id, "active"),
        (second.id, "active"),
    ]
    assert [v.id for v in await reader.roster(tomorrow)] == [later.id]
    assert await redis.pexpiretime(f"{tag}:roster:{today}") > 0
    # Checked in, called and served like any booking.
    await app.desk.check_in(second.id, staff=STAFF)
    assert (await app.desk.call_next(2, staff=STAFF)).id == second.id
    # Once per office: a second process does not scan again.
    await redis.zrem(f"{tag}:roster:{today}", first.id)
    assert await Calls(redis, app.office.id, clock).backfill() is None
    assert [v.id for v in await Calls(redis, app.office.id, clock).roster(today)] == [second.id]


async def test_a_new_state_keeps_the_bookings_place_for_a_reader(
    app: App, redis: aioredis.Redis, clock: ManualClock
) -> None:
    # Most changes are a new state (checked in, called, served): the reader replaces the visit
    # where it stands instead of sorting the day again, and still reads what a fresh reader does.
    today = app.office.local_today(clock.now())
    bookings = await book_today(app, 3) + await book_today(app, 2, window=1)
    reader = Calls(redis, app.office.id, clock)
    assert [v.id for v in await reader.roster(today)] == [b.id for b in bookings]
    for booking in (bookings[3], bookings[1]):
        await app.desk.check_in(booking.id, staff=STAFF)
        read = await reader.roster(today)
        assert read == await Calls(redis, app.office.id, clock).roster(today)
    assert [(v.id, v.status) for v in read] == [
        (bookings[0].id, "active"),
        (bookings[1].id, "checked_in"),
        (bookings[2].id, "active"),
        (bookings[3].id, "checked_in"),
        (bookings[4].id, "active"),
    ]
    await app.desk.call_next(5, staff=STAFF)
    called = [(v.id, v.status, v.counter) for v in await reader.roster(today)]
    assert called[1] == (bookings[1].id, "called", 5)
