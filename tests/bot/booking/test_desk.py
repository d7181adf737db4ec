"""The booking desk against a real Redis: each operation's seat change, NIK claim, event and
audit entry, and the claims of bot/infra/claims.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.availability import report_seats_left, seats_left
from bot.booking.errors import (
    BookingNotFound,
    CheckInRefused,
    HoldExpired,
    NikBlocked,
    NikTaken,
    SoldOut,
)
from bot.booking.office import Service, Window
from bot.booking.seats import Booking
from bot.core.clock import ManualClock, ms
from bot.core.writes import Write
from bot.infra.claims import Claims, new_token
from bot.infra.keys import NikKeys
from bot.infra.metrics import SEATS_LEFT
from tests.support import NIK_MAN, NIK_WOMAN, make_app


class Events:
    """The booking events the desk reported, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def booked(self, booking: Booking) -> None:
        self.seen.append(("booked", booking.id))

    async def cancelled(self, booking: Booking) -> None:
        self.seen.append(("cancelled", booking.id))

    async def moved(self, booking: Booking) -> None:
        self.seen.append(("moved", booking.id))


@pytest.fixture
def app(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> App:
    app = make_app(redis, clock, tmp_path)
    app.events = Events()
    return app


def events(app: App) -> list[tuple[str, str]]:
    assert isinstance(app.events, Events)
    return app.events.seen


def slot(app: App, index: int = 0) -> tuple[date, Service, Window]:
    day = app.office.bookable_days(app.clock.now())[index]
    return day, app.office.services[0], app.office.windows(day)[0]


async def book(
    app: App, later: list[Write], nik: str = NIK_MAN, account: str = "console:ani", index: int = 0
) -> Booking:
    day, service, window = slot(app, index)
    return await app.desk.book(
        hold_id=app.codes.new_id(),
        day=day,
        service=service,
        window=window,
        account=account,
        nik_hash=app.niks.hash(nik),
        nik_last4=nik[-4:],
        name="Ani Lestari",
        locale="id",
        later=later.append,
    )


async def audited(app: App, writes: Sequence[Write] = ()) -> list[tuple[str, str, str]]:
    """The audit log as (actor, action, result), after sending the turn's ``writes``."""
    for write in writes:
        await app.redis.execute_command(*write.args)  # type: ignore[no-untyped-call]
    return [(e.actor, e.action, e.result) for e in await app.audit.latest(100)]


async def test_book_claims_the_nik_confirms_reports_and_leaves_the_entry_for_the_save(
    app: App,
) -> None:
    later: list[Write] = []
    booking = await book(app, later)
    assert booking.active and booking.account == "console:ani"
    assert await app.nik_registry.holder(booking.nik_hash) == (app.office.id, booking.id)
    assert events(app) == [("booked", booking.id)]
    # Nothing written to the log yet: the entry rides with the turn's save.
    assert await audited(app) == []
    [(actor, action, result)] = await audited(app, later)
    assert (action, result) == ("booked", "ok") and actor.startswith("user:")


async def test_a_nik_held_by_another_booking_is_refused_before_the_seat_book(app: App) -> None:
    first = await book(app, [])
    later: list[Write] = []
    with pytest.raises(NikTaken):
        await book(app, later, account="console:budi", index=1)
    assert [(a, r) for _, a, r in await audited(app, later)] == [("book", "refused")]
    # The claim is still the first booking's, and no seat was taken for the second.
    assert await app.nik_registry.holder(first.nik_hash) == (app.office.id, first.id)
    assert await app.seats.active_for_account("console:budi") == []


async def test_a_nik_refusal_says_whether_the_holder_is_the_same_account(app: App) -> None:
    await book(app, [])
    later: list[Write] = []
    with pytest.raises(NikTaken) as taken:
        await book(app, later, account="console:budi", index=1)
    assert not taken.value.yours
    # The same account, at the same office: theirs to see (no refusal to audit, as before).
    with pytest.raises(NikTaken) as taken:
        await book(app, later, index=1)
    assert taken.value.yours and len(later) == 1


async def test_a_blocked_nik_is_refused_in_the_claims_round_trip(
    app: App, clock: ManualClock
) -> None:
    nik_hash = app.niks.hash(NIK_MAN)
    until = clock.now() + timedelta(days=30)
    await app.redis.set(NikKeys(nik_hash).blocked, ms(until))
    later: list[Write] = []
    with pytest.raises(NikBlocked) as blocked:
        await book(app, later)
    assert blocked.value.until == until
    assert await app.nik_registry.holder(nik_hash) is None  # nothing claimed
    assert await app.seats.active_for_account("console:ani") == []
    [entry] = later
    assert entry.args[-2:] == ("reason", "strikes")
    # Once the block is over, the NIK books again.
    clock.set(until + timedelta(seconds=1))
    assert (await book(app, [], index=0)).active


async def test_a_seat_book_refusal_gives_the_nik_claim_back(app: App) -> None:
    day, service, window = slot(app)
    await app.seats.set_capacity(day=day, service=service.id, window=window.id, capacity=0)
    later: list[Write] = []
    with pytest.raises(SoldOut):
        await book(app, later)
    assert await app.nik_registry.holder(app.niks.hash(NIK_MAN)) is None
    assert later == [] and events(app) == []


async def test_a_hold_that_expired_gives_the_nik_claim_back(app: App, clock: ManualClock) -> None:
    day, service, window = slot(app)
    await app.seats.set_capacity(day=day, service=service.id, window=window.id, capacity=1)
    hold_id = app.codes.new_id()
    await app.seats.hold(
        hold_id=hold_id,
        day=day,
        service=service.id,
        window=window.id,
        default_capacity=1,
        account="console:ani",
        max_active=1,
        ttl_ms=60_000,
    )
    # Someone else takes the last seat once the hold has lapsed.
    clock.advance(120)
    await app.seats.hold(
        hold_id=app.codes.new_id(),
        day=day,
        service=service.id,
        window=window.id,
        default_capacity=1,
        account="console:budi",
        max_active=1,
        ttl_ms=60_000,
    )
    later: list[Write] = []
    with pytest.raises((HoldExpired, SoldOut)):
        await app.desk.book(
            hold_id=hold_id,
            day=day,
            service=service,
            window=window,
            account="console:ani",
            nik_hash=app.niks.hash(NIK_MAN),
            nik_last4="0001",
            name="Ani Lestari",
            locale="id",
            later=later.append,
        )
    assert await app.nik_registry.holder(app.niks.hash(NIK_MAN)) is None
    assert later == []


async def test_cancel_frees_the_seat_and_the_nik_and_reports_it(app: App) -> None:
    booking = await book(app, [])
    later: list[Write] = []
    cancelled = await app.desk.cancel(booking.id, account="console:ani", later=later.append)
    assert cancelled.status == "cancelled"
    assert await app.nik_registry.holder(booking.nik_hash) is None
    assert events(app)[-1] == ("cancelled", booking.id)
    assert [(a, r) for _, a, r in await audited(app, later)] == [("cancelled", "ok")]
    # The NIK may book again straight away.
    again = await book(app, [], index=1)
    assert again.active


async def test_cancel_of_someone_elses_booking_changes_nothing(app: App) -> None:
    booking = await book(app, [])
    later: list[Write] = []
    with pytest.raises(BookingNotFound):
        await app.desk.cancel(booking.id, account="console:budi", later=later.append)
    assert later == [] and events(app) == [("booked", booking.id)]
    assert await app.nik_registry.holder(booking.nik_hash) == (app.office.id, booking.id)


async def test_move_reschedules_once_and_reports_it(app: App) -> None:
    booking = await book(app, [])
    day, _, window = slot(app, 1)
    later: list[Write] = []
    moved = await app.desk.move(
        booking, account="console:ani", day=day, window=window, later=later.append
    )
    assert (moved.id, moved.day, moved.rescheduled) == (booking.id, day, True)
    assert events(app)[-1] == ("moved", booking.id)
    assert [(a, r) for _, a, r in await audited(app, later)] == [("rescheduled", "ok")]


async def test_check_in_frees_the_nik_and_writes_both_entries(app: App, clock: ManualClock) -> None:
    booking = await book(app, [])
    clock.set(app.office.window_start(booking.day, booking.window))
    done = await app.desk.check_in(booking.id, staff="console:officer")
    assert done.status == "checked_in"
    assert await app.nik_registry.holder(booking.nik_hash) is None
    assert [(a, r) for _, a, r in await audited(app)] == [("checkin", "ok"), ("checked_in", "ok")]
    with pytest.raises(CheckInRefused) as refused:
        await app.desk.check_in(booking.id, staff="console:officer")
    assert refused.value.reason == "checked_in"


async def test_close_day_cancels_frees_and_reports_every_booking_once(app: App) -> None:
    first = await book(app, [])
    second = await book(app, [], nik=NIK_WOMAN, account="console:budi")
    count = await app.desk.close_day(first.day, "banjir", by="console:admin")
    assert count == 2
    for booking in (first, second):
        assert await app.nik_registry.holder(booking.nik_hash) is None
        assert ("cancelled", booking.id) in events(app)
    log = await audited(app)
    assert [(a, r) for _, a, r in log] == [("cancelled", "ok")] * 2 + [("close", "ok")]
    # Again: nothing left to cancel, the closure is audited again.
    assert await app.desk.close_day(first.day, "banjir", by="console:admin") == 0
    assert len([e for e in events(app) if e[0] == "cancelled"]) == 2


async def test_mark_no_shows_strikes_and_frees_each_nik_once(app: App, clock: ManualClock) -> None:
    booking = await book(app, [])
    clock.set(app.office.window_start(booking.day, booking.window) + timedelta(days=1))
    assert await app.desk.mark_no_shows(booking.day) == {"marked": 1}
    assert await app.nik_registry.holder(booking.nik_hash) is None
    assert [(a, r) for _, a, r in await audited(app)] == [("no_show", "ok")]
    strikes = await app.redis.zcard(NikKeys(booking.nik_hash).strikes)
    # A second run finds the no-show and records nothing new.
    assert await app.desk.mark_no_shows(booking.day) == {"no_show": 1}
    assert [(a, r) for _, a, r in await audited(app)] == [("no_show", "ok")]
    assert await app.redis.zcard(NikKeys(booking.nik_hash).strikes) == strikes


async def test_seats_left_per_day_and_service_sets_the_gauge(app: App) -> None:
    day, service, _ = slot(app)
    before = await seats_left(app.office, app.seats, app.clock.now())
    await book(app, [])
    after = await seats_left(app.office, app.seats, app.clock.now())
    assert after[day, service.id] == before[day, service.id] - 1
    assert set(after) == {(d, s.id) for d in app.office.bookable_days(app.clock.now())
                          for s in app.office.services}  # fmt: skip
    await report_seats_left(app.redis, [(app.office, app.seats)], app.clock.now())
    gauge = SEATS_LEFT.labels(app.office.id, day.isoformat(), service.id)
    assert gauge._value.get() == after[day, service.id]


async def test_a_claim_is_given_back_only_by_its_holder(redis: aioredis.Redis) -> None:
    claims = Claims(redis)
    mine, theirs = new_token(), new_token()
    assert await claims.claim("marker", mine, 60_000)
    assert not await claims.claim("marker", theirs, 60_000)
    assert not await claims.give_back("marker", theirs)
    assert await redis.get("marker") == mine
    assert await claims.give_back("marker", mine)
    assert await redis.get("marker") is None
    assert await claims.claim("marker", theirs, 60_000)


def test_the_desk_is_built_once_with_the_app(app: App) -> None:
    assert app.desk.niks is app.nik_registry and app.desk.audit is app.audit
    assert app.desk.counter is app.counter and app.desk.seats is app.seats


async def test_without_a_turn_the_entries_are_written_at_once(app: App) -> None:
    day, service, window = slot(app)
    booking = await app.desk.book(
        hold_id=app.codes.new_id(),
        day=day,
        service=service,
        window=window,
        account="console:ani",
        nik_hash=app.niks.hash(NIK_MAN),
        nik_last4="0001",
        name="Ani Lestari",
        locale="id",
        by="system:test",
    )
    await app.desk.cancel(booking.id, account="console:ani")
    entries = await app.audit.latest(10)
    assert [(e.action, e.details.get("by")) for e in entries] == [
        ("booked", "system:test"),
        ("cancelled", None),
    ]
