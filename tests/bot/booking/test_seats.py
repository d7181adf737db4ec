"""The seat book against a real Redis: races, holds by the injected clock, keys and round trips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.booking.calls import Calls
from bot.booking.errors import (
    AccountLimit,
    AlreadyRescheduled,
    BelowBooked,
    BookingNotFound,
    DayClosed,
    NikHasBooking,
    SeatError,
    SoldOut,
)
from bot.booking.seats import Availability, Booking, SeatBook, block_size
from bot.core.clock import ManualClock, ms
from bot.errors import StorageError
from bot.infra.embedded import RedisServer
from bot.infra.keys import OfficeKeys

OFFICE = "kua-menteng"
DAY = date(2030, 3, 5)
SERVICE = "nikah"
TTL_MS = 10 * 60 * 1000


@pytest.fixture
def book(redis: aioredis.Redis, clock: ManualClock) -> SeatBook:
    return SeatBook(redis, OFFICE, clock)


@pytest.fixture
async def pooled(redis: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on a bounded pool, for thousands of concurrent calls (``redis`` flushed the db)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_server.url, max_connections=100, decode_responses=True
    )
    client = aioredis.Redis(connection_pool=pool)
    yield client
    await client.aclose()
    await pool.aclose()


async def confirm(
    book: SeatBook,
    hold_id: str,
    *,
    account: str | None = None,
    nik: str | None = None,
    window: str = "08",
    day: date = DAY,
    capacity: int = 10,
    max_active: int = 3,
    windows: list[tuple[str, int]] | None = None,
) -> Booking:
    return await book.confirm(
        hold_id=hold_id,
        day=day,
        service=SERVICE,
        window=window,
        default_capacity=capacity,
        prefix="A",
        account=account or f"telegram:{hold_id}",
        max_active=max_active,
        nik_hash=nik or f"nik-{hold_id}",
        nik_last4="1234",
        name="Siti",
        locale="id",
        # The day's windows in time order, for the queue number plan.
        windows=windows if windows is not None else [("08", capacity), ("09", capacity)],
    )


async def hold(
    book: SeatBook,
    hold_id: str,
    *,
    account: str | None = None,
    window: str = "08",
    day: date = DAY,
    capacity: int = 10,
    max_active: int = 3,
) -> None:
    await book.hold(
        hold_id=hold_id,
        day=day,
        service=SERVICE,
        window=window,
        default_capacity=capacity,
        account=account or f"telegram:{hold_id}",
        max_active=max_active,
        ttl_ms=TTL_MS,
    )


async def seats(book: SeatBook, capacity: int = 10, day: date = DAY) -> dict[str, Availability]:
    [result] = await book.availability([(day, SERVICE, {"08": capacity, "09": capacity})])
    return result


# -- races ------------------------------------------------------------------------------------


async def test_2000_concurrent_confirmations_for_100_seats(
    pooled: aioredis.Redis, clock: ManualClock
) -> None:
    book = SeatBook(pooled, OFFICE, clock)
    results = await asyncio.gather(
        *(confirm(book, f"h{i}", capacity=100) for i in range(2000)), return_exceptions=True
    )
    booked = [r for r in results if isinstance(r, Booking)]
    refused = [r for r in results if not isinstance(r, Booking)]
    assert len(booked) == 100
    assert all(isinstance(r, SoldOut) for r in refused)
    assert sorted(b.number for b in booked) == list(range(1, 101))
    assert {b.queue_number for b in booked} >= {"A-001", "A-100"}
    availability = (await seats(book, capacity=100))["08"]
    assert (availability.booked, availability.held, availability.free) == (100, 0, 0)


async def test_one_nik_books_once_however_many_race(
    pooled: aioredis.Redis, clock: ManualClock
) -> None:
    book = SeatBook(pooled, OFFICE, clock)
    results = await asyncio.gather(
        *(confirm(book, f"h{i}", nik="same-nik", capacity=500) for i in range(200)),
        return_exceptions=True,
    )
    booked = [r for r in results if isinstance(r, Booking)]
    assert len(booked) == 1
    assert all(isinstance(r, NikHasBooking) for r in results if r is not booked[0])
    assert (await seats(book, capacity=500))["08"].booked == 1


async def test_account_may_hold_at_most_max_active_bookings(book: SeatBook) -> None:
    await confirm(book, "h1", account="telegram:1", nik="n1", max_active=1)
    with pytest.raises(AccountLimit):
        await confirm(book, "h2", account="telegram:1", nik="n2", max_active=1)
    with pytest.raises(AccountLimit):
        await hold(book, "h3", account="telegram:1", max_active=1)
    # Another channel identity of someone else is not limited by it.
    await confirm(book, "h4", account="whatsapp:62811", nik="n2", max_active=1)
    assert (await seats(book))["08"].booked == 2


# -- holds ------------------------------------------------------------------------------------


async def test_hold_takes_a_seat_until_it_expires_by_the_clock(
    book: SeatBook, clock: ManualClock
) -> None:
    await hold(book, "h1", capacity=1)
    assert (await seats(book, capacity=1))["08"] == Availability(capacity=1, booked=0, held=1)
    with pytest.raises(SoldOut):
        await hold(book, "h2", capacity=1)
    clock.advance(timedelta(milliseconds=TTL_MS + 1))
    assert (await seats(book, capacity=1))["08"].free == 1
    await hold(book, "h2", capacity=1)
    assert (await seats(book, capacity=1))["08"].held == 1


async def test_holding_again_moves_the_hold_without_leaking(
    book: SeatBook, clock: ManualClock
) -> None:
    await hold(book, "h1", capacity=1)
    await hold(book, "h1", capacity=1)  # same window again: still one seat
    await hold(book, "h1", window="09", capacity=1)  # the user picked another window
    now = await seats(book, capacity=1)
    assert (now["08"].held, now["09"].held) == (0, 1)
    # The re-hold refreshed the expiry: just before its new end it still holds.
    clock.advance(timedelta(milliseconds=TTL_MS - 1))
    await hold(book, "h1", window="09", capacity=1)
    clock.advance(timedelta(milliseconds=TTL_MS - 1))
    assert (await seats(book, capacity=1))["09"].held == 1
    with pytest.raises(SoldOut):
        await hold(book, "h2", window="09", capacity=1)


async def test_refused_rehold_keeps_the_previous_hold(book: SeatBook) -> None:
    await hold(book, "other", window="09", capacity=1)
    await hold(book, "h1", window="08", capacity=1)
    with pytest.raises(SoldOut):
        await hold(book, "h1", window="09", capacity=1)
    now = await seats(book, capacity=1)
    assert (now["08"].held, now["09"].held) == (1, 1)


async def test_release_returns_the_seat(book: SeatBook) -> None:
    await hold(book, "h1", capacity=1)
    await book.release(hold_id="h1", day=DAY, service=SERVICE)
    assert (await seats(book, capacity=1))["08"].free == 1
    await book.release(hold_id="h1", day=DAY, service=SERVICE)  # absent: no error
    await book.release(hold_id="never", day=DAY, service=SERVICE)
    assert (await seats(book, capacity=1))["08"] == Availability(1, 0, 0)


async def test_confirm_turns_the_hold_into_a_booking(book: SeatBook) -> None:
    await hold(book, "h1", capacity=1)
    booking = await confirm(book, "h1", capacity=1)
    assert booking.id == "h1"
    assert booking.queue_number == "A-001"
    assert booking.active and not booking.rescheduled
    assert (await seats(book, capacity=1))["08"] == Availability(1, 1, 0)
    assert await book.get("h1") == booking


async def test_confirm_after_expiry_books_a_seat_that_is_still_free(
    book: SeatBook, clock: ManualClock
) -> None:
    await hold(book, "h1", capacity=1)
    clock.advance(timedelta(milliseconds=TTL_MS + 1))
    booking = await confirm(book, "h1", capacity=1)
    assert booking.number == 1
    assert (await seats(book, capacity=1))["08"] == Availability(1, 1, 0)


async def test_confirm_after_expiry_is_sold_out_when_the_seat_was_taken(
    book: SeatBook, clock: ManualClock
) -> None:
    await hold(book, "h1", capacity=1)
    clock.advance(timedelta(milliseconds=TTL_MS + 1))
    await hold(book, "h2", capacity=1)
    with pytest.raises(SoldOut):
        await confirm(book, "h1", capacity=1)
    assert (await seats(book, capacity=1))["08"] == Availability(1, 0, 1)
    assert await book.get("h1") is None


async def test_confirm_is_idempotent_per_hold_id_and_account(book: SeatBook) -> None:
    await hold(book, "h1")
    first = await confirm(book, "h1")
    again = await confirm(book, "h1")
    assert again == first
    assert (await seats(book))["08"].booked == 1
    second = await confirm(book, "h2")
    assert second.number == 2  # the redelivery drew no number


async def test_confirm_with_an_id_of_another_account_is_a_collision(book: SeatBook) -> None:
    await confirm(book, "h1", account="telegram:1")
    with pytest.raises(SeatError) as caught:
        await confirm(book, "h1", account="telegram:2", nik="other")
    assert caught.value.reason == "id_collision"
    assert (await seats(book))["08"].booked == 1


# -- cancel -----------------------------------------------------------------------------------


async def test_cancel_returns_the_seat_and_frees_the_nik(book: SeatBook) -> None:
    booking = await confirm(book, "h1", account="telegram:1", nik="n1", capacity=1)
    with pytest.raises(BookingNotFound):
        await book.cancel("h1", account="telegram:2")
    cancelled = await book.cancel("h1", account="telegram:1")
    assert cancelled.status == "cancelled" and not cancelled.active
    assert cancelled.number == booking.number
    assert (await seats(book, capacity=1))["08"] == Availability(1, 0, 0)
    assert await book.active_for_account("telegram:1") == []
    with pytest.raises(BookingNotFound):
        await book.cancel("h1", account="telegram:1")
    with pytest.raises(BookingNotFound):
        await book.cancel("missing", account=None)
    again = await confirm(book, "h2", account="telegram:1", nik="n1", capacity=1)
    assert again.number == 2  # numbers are never reused


async def test_staff_cancel_needs_no_account(book: SeatBook) -> None:
    await confirm(book, "h1", account="telegram:1")
    assert (await book.cancel("h1", account=None)).status == "cancelled"
    assert (await seats(book))["08"].booked == 0


async def test_active_for_account_is_sorted_by_day_then_window(book: SeatBook) -> None:
    later = DAY + timedelta(days=1)
    await confirm(book, "c", account="telegram:1", nik="n3", day=later, window="08")
    await confirm(book, "b", account="telegram:1", nik="n2", window="09")
    await confirm(book, "a", account="telegram:1", nik="n1", window="08")
    await confirm(book, "x", account="telegram:2", nik="n4")
    mine = await book.active_for_account("telegram:1")
    assert [b.id for b in mine] == ["a", "b", "c"]
    assert await book.active_for_account("telegram:none") == []


# -- reschedule -------------------------------------------------------------------------------


async def test_reschedule_moves_the_seat_once(book: SeatBook) -> None:
    first = await confirm(book, "h0", window="09")
    booking = await confirm(book, "h1", account="telegram:1")
    # Numbers go by window: 08 has 1-20, 09 has 21-40 (capacity 10: blocks of 20).
    assert (first.number, booking.number) == (21, 1)
    moved = await book.reschedule(
        "h1", account="telegram:1", day=DAY, window="09", default_capacity=10
    )
    assert (moved.window, moved.number, moved.rescheduled) == ("09", 22, True)
    now = await seats(book)
    assert (now["08"].booked, now["09"].booked) == (0, 2)
    with pytest.raises(AlreadyRescheduled):
        await book.reschedule("h1", account="telegram:1", day=DAY, window="08", default_capacity=10)
    with pytest.raises(BookingNotFound):
        await book.reschedule("h0", account="telegram:1", day=DAY, window="08", default_capacity=10)


async def test_reschedule_within_a_full_window_keeps_the_seat(book: SeatBook) -> None:
    await confirm(book, "h1", account="telegram:1", capacity=1)
    moved = await book.reschedule(
        "h1", account="telegram:1", day=DAY, window="08", default_capacity=1
    )
    assert (moved.window, moved.number, moved.rescheduled) == ("08", 2, True)
    assert (await seats(book, capacity=1))["08"] == Availability(1, 1, 0)


async def test_reschedule_to_another_day_takes_its_number(book: SeatBook) -> None:
    later = DAY + timedelta(days=7)
    await confirm(book, "other", day=later)
    await confirm(book, "h1", account="telegram:1")
    moved = await book.reschedule(
        "h1", account="telegram:1", day=later, window="08", default_capacity=10
    )
    assert (moved.day, moved.number) == (later, 2)
    assert (await seats(book))["08"].booked == 0
    assert (await seats(book, day=later))["08"].booked == 2
    assert [b.day for b in await book.active_for_account("telegram:1")] == [later]


async def test_reschedule_to_a_full_window_changes_nothing(book: SeatBook) -> None:
    await confirm(book, "full", window="09", capacity=1)
    booking = await confirm(book, "h1", account="telegram:1", capacity=1)
    with pytest.raises(SoldOut):
        await book.reschedule("h1", account="telegram:1", day=DAY, window="09", default_capacity=1)
    assert await book.get("h1") == booking
    now = await seats(book, capacity=1)
    assert (now["08"].booked, now["09"].booked) == (1, 1)


async def test_reschedule_into_a_closed_day_is_refused(book: SeatBook) -> None:
    closed = DAY + timedelta(days=1)
    booking = await confirm(book, "h1", account="telegram:1")
    await book.close_day(closed)
    with pytest.raises(DayClosed):
        await book.reschedule(
            "h1", account="telegram:1", day=closed, window="08", default_capacity=10
        )
    assert await book.get("h1") == booking


# -- staff ------------------------------------------------------------------------------------


async def test_capacity_never_goes_below_booked(book: SeatBook) -> None:
    await confirm(book, "h1", capacity=2)
    await confirm(book, "h2", capacity=2)
    with pytest.raises(BelowBooked) as caught:
        await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=1)
    assert caught.value.details == {"booked": 2}
    with pytest.raises(ValueError):
        await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=-1)
    exact = await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=2)
    assert exact == Availability(2, 2, 0)
    with pytest.raises(SoldOut):
        await confirm(book, "h3", capacity=10)  # the override beats the default
    raised = await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=3)
    assert raised.free == 1
    assert (await confirm(book, "h3", capacity=2)).number == 3
    assert (await seats(book, capacity=2))["08"] == Availability(3, 3, 0)


async def test_closed_day_has_no_seats(book: SeatBook) -> None:
    await book.close_day(DAY)
    assert await book.is_closed(DAY)
    assert not await book.is_closed(DAY + timedelta(days=1))
    assert (await seats(book))["08"] == Availability(0, 0, 0)
    with pytest.raises(DayClosed):
        await hold(book, "h1")
    with pytest.raises(DayClosed):
        await confirm(book, "h1")
    await book.reopen_day(DAY)
    assert not await book.is_closed(DAY)
    await hold(book, "h1")
    assert (await seats(book))["08"].held == 1


async def test_availability_of_many_day_services(book: SeatBook) -> None:
    other = DAY + timedelta(days=1)
    await confirm(book, "h1", window="09")
    await hold(book, "h2", day=other)
    result = await book.availability(
        [(DAY, SERVICE, {"08": 5, "09": 5}), (other, SERVICE, {"08": 7}), (other, "ktp", {})]
    )
    assert result == [
        {"08": Availability(5, 0, 0), "09": Availability(5, 1, 0)},
        {"08": Availability(7, 0, 1)},
        {},
    ]
    assert await book.availability([]) == []


# -- keys, round trips, errors ----------------------------------------------------------------


async def test_every_key_carries_its_office_hash_tag(
    redis: aioredis.Redis, book: SeatBook, clock: ManualClock
) -> None:
    other = SeatBook(redis, "dukcapil-1", clock)
    for seat_book in (book, other):
        await hold(seat_book, "h1")
        await hold(seat_book, "h2")
        await seat_book.release(hold_id="h2", day=DAY, service=SERVICE)
        await confirm(seat_book, "h1", account="telegram:1", nik="n1")
        await confirm(seat_book, "h3", account="telegram:2", nik="n2")
        await seat_book.reschedule(
            "h1", account="telegram:1", day=DAY + timedelta(days=1), window="09", default_capacity=9
        )
        await seat_book.cancel("h3", account="telegram:2")
        await seat_book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=4)
        await seat_book.close_day(DAY + timedelta(days=2))
        await seat_book.availability([(DAY, SERVICE, {"08": 1})])
        await seat_book.active_for_account("telegram:1")
    keys = await redis.keys("*")
    assert keys
    mine = [k for k in keys if "{o:kua-menteng}" in k]
    theirs = [k for k in keys if "{o:dukcapil-1}" in k]
    assert sorted(mine + theirs) == sorted(keys)
    assert len(mine) == len(theirs)
    # One office's operations never see the other's: each booked and cancelled on its own.
    moved = await book.get("h1")
    assert moved is not None and moved.office == OFFICE
    assert (await seats(book))["08"] == Availability(4, 0, 0)


class CountingRedis(aioredis.Redis):
    """A client that records every command it sends (each is one round trip here)."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


async def test_hold_and_confirm_cost_one_round_trip_each(
    redis_server: RedisServer, redis: aioredis.Redis, clock: ManualClock
) -> None:
    pool = aioredis.ConnectionPool.from_url(redis_server.url, decode_responses=True)
    client = CountingRedis(connection_pool=pool)
    client.sent = []
    try:
        book = SeatBook(client, OFFICE, clock)
        # The first call of a script on a server also loads it (NOSCRIPT, SCRIPT LOAD, EVALSHA).
        await hold(book, "warm")
        await confirm(book, "warm")
        await book.availability([(DAY, SERVICE, {"08": 1})])

        before = (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
        client.sent = []
        await hold(book, "h1")
        assert client.sent == ["EVALSHA"]
        client.sent = []
        await confirm(book, "h1")
        assert client.sent == ["EVALSHA"]
        client.sent = []
        requests = [(DAY + timedelta(days=d), SERVICE, {"08": 1, "09": 2}) for d in range(14)]
        await book.availability(requests)
        assert client.sent == ["EVALSHA"]
        # And the server agrees: it ran exactly those three scripts.
        after = (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
        assert after - before == 3
    finally:
        await client.aclose()
        await pool.aclose()


async def test_unreachable_redis_is_a_storage_error(clock: ManualClock) -> None:
    # Nothing listens on port 1; no retries, so the refusal surfaces at once.
    dead = aioredis.Redis(
        host="127.0.0.1", port=1, decode_responses=True, retry=Retry(NoBackoff(), 0)
    )
    try:
        book = SeatBook(dead, OFFICE, clock)
        with pytest.raises(StorageError):
            await hold(book, "h1")
        with pytest.raises(StorageError):
            await book.is_closed(DAY)
        with pytest.raises(StorageError):
            await book.get("h1")
    finally:
        await dead.aclose()


# -- the holds' id index -----------------------------------------------------------------------


async def index_in_step(redis: aioredis.Redis) -> dict[str, str]:
    """The id index, checked against the sorted set it indexes: one entry per live hold."""
    keys = OfficeKeys(OFFICE)
    members = await redis.zrange(keys.holds(DAY.isoformat(), SERVICE), 0, -1)
    index = await redis.hgetall(keys.hold_ids(DAY.isoformat(), SERVICE))
    assert sorted(index.values()) == sorted(members)
    assert all(member.split("|")[1] == hold_id for hold_id, member in index.items())
    return index


async def test_the_id_index_follows_holds_through_moves_releases_confirms_and_expiry(
    book: SeatBook, redis: aioredis.Redis, clock: ManualClock
) -> None:
    for n in range(5):
        await hold(book, f"h{n}")
    assert set(await index_in_step(redis)) == {f"h{n}" for n in range(5)}
    await hold(book, "h0", window="09")  # moved: one entry, the new window
    assert (await index_in_step(redis))["h0"].startswith("09|")
    await book.release(hold_id="h1", day=DAY, service=SERVICE)
    await confirm(book, "h2")
    assert set(await index_in_step(redis)) == {"h0", "h3", "h4"}
    clock.advance(timedelta(milliseconds=TTL_MS + 1))
    await hold(book, "h5")  # purges the expired ones first
    assert set(await index_in_step(redis)) == {"h5"}
    assert (await seats(book))["08"].held == 1


async def test_holds_taken_before_the_index_existed_are_still_found(
    book: SeatBook, redis: aioredis.Redis, clock: ManualClock
) -> None:
    await hold(book, "new")
    # A hold as the code before the index wrote it: in the sorted set only.
    keys = OfficeKeys(OFFICE)
    expiry = ms(clock.now()) + TTL_MS
    await redis.zadd(keys.holds(DAY.isoformat(), SERVICE), {"08|old|telegram:old": expiry})
    await redis.hincrby(keys.day(DAY.isoformat(), SERVICE), "held:08", 1)
    booking = await confirm(book, "old", account="telegram:old", capacity=2)
    assert booking.window == "08"
    # Its own hold became the booking: the window is full with "new"'s hold, not oversold.
    assert (await seats(book, capacity=2))["08"] == Availability(2, 1, 1)


# -- queue numbers in time order -----------------------------------------------------------------

DAY_WINDOWS = [("0800-1000", 10), ("1000-1200", 5), ("1300-1500", 30)]


async def test_numbers_are_issued_per_window_in_time_order(
    book: SeatBook, redis: aioredis.Redis
) -> None:
    # Booked late window first: the numbers still follow the windows' times.
    late = await confirm(book, "late", window="1300-1500", capacity=30, windows=DAY_WINDOWS)
    mid = await confirm(book, "mid", window="1000-1200", capacity=5, windows=DAY_WINDOWS)
    early = await confirm(book, "early", window="0800-1000", capacity=10, windows=DAY_WINDOWS)
    early2 = await confirm(book, "early2", window="0800-1000", capacity=10, windows=DAY_WINDOWS)
    # Blocks: 10 seats -> 20 numbers, 5 -> 10, 30 -> 40 (block_size).
    assert [block_size(c) for _, c in DAY_WINDOWS] == [20, 10, 40]
    assert [b.queue_number for b in (early, early2, mid, late)] == [
        "A-001",
        "A-002",
        "A-021",
        "A-031",
    ]
    plan = await redis.hgetall(f"antrean:{{o:{OFFICE}}}:day:{DAY.isoformat()}:{SERVICE}")
    assert plan["plan_end"] == "70" and "seq" not in plan
    assert (plan["base:1000-1200"], plan["block:1000-1200"]) == ("20", "10")
    # The plan is fixed: windows given differently later change nothing.
    again = await confirm(book, "again", window="1000-1200", capacity=5, windows=[])
    assert again.number == 22


async def test_a_day_numbered_the_old_way_keeps_its_counter(
    book: SeatBook, redis: aioredis.Redis
) -> None:
    day_key = f"antrean:{{o:{OFFICE}}}:day:{DAY.isoformat()}:{SERVICE}"
    # What an older version left: one counter for the day, three numbers issued.
    await redis.hset(day_key, mapping={"seq": 3, "booked:0800-1000": 3})
    first = await confirm(book, "n1", window="1300-1500", capacity=30, windows=DAY_WINDOWS)
    second = await confirm(book, "n2", window="0800-1000", capacity=10, windows=DAY_WINDOWS)
    assert (first.number, second.number) == (4, 5)
    assert "plan_end" not in await redis.hgetall(day_key)
    # A day with no number yet gets the plan.
    other = await confirm(
        book, "n3", window="0800-1000", capacity=10, windows=DAY_WINDOWS, day=DAY + timedelta(1)
    )
    assert other.number == 1


async def test_a_quota_raised_past_its_block_overflows_past_the_last_block(
    book: SeatBook, redis: aioredis.Redis, clock: ManualClock
) -> None:
    windows = [("08", 10), ("09", 10)]
    first = await confirm(book, "w0", window="08", windows=windows)
    assert first.number == 1  # the plan is fixed now: 08 has 1-20, 09 has 21-40
    # Staff raise 08 to 25 seats: five more than its block holds.
    await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=25)
    late = await confirm(book, "late", window="09", windows=windows)
    numbers = [first.number]
    for i in range(1, 25):
        booking = await confirm(book, f"w{i}", window="08", capacity=25, windows=windows)
        numbers.append(booking.number)
    # 1-20 in the block, then 41-45 past the last block: nothing collides.
    assert numbers == [*range(1, 21), *range(41, 46)]
    assert late.number == 21 and len(set(numbers) | {late.number}) == 26
    # Calling order stays time order: every 08 booking before the 09 one.
    calls = Calls(redis, OFFICE, clock)
    order = [v.id for v in await calls.roster(DAY)]
    assert order.index("late") == 25 and order[:20] == [f"w{i}" for i in range(20)]


async def test_a_quota_raised_before_the_first_number_sizes_the_plan(book: SeatBook) -> None:
    await book.set_capacity(day=DAY, service=SERVICE, window="08", capacity=25)
    booking = await confirm(book, "b", window="09", windows=[("08", 10), ("09", 10)])
    assert booking.number == block_size(25) + 1 == 31


async def test_the_roster_follows_confirm_cancel_and_reschedule(
    book: SeatBook, redis: aioredis.Redis, clock: ManualClock
) -> None:
    calls = Calls(redis, OFFICE, clock)
    later = DAY + timedelta(days=7)
    await confirm(book, "a", window="09", account="telegram:1")
    await confirm(book, "b", window="08")
    await confirm(book, "c", window="08")
    assert [v.id for v in await calls.roster(DAY)] == ["b", "c", "a"]
    await book.cancel("c", account=None)
    await book.reschedule("a", account="telegram:1", day=later, window="08", default_capacity=10)
    rows = await calls.roster(DAY)
    assert [(v.id, v.status) for v in rows] == [("b", "active"), ("c", "cancelled")]
    [moved] = await calls.roster(later)
    assert (moved.id, moved.number, moved.window) == ("a", 1, "08")
    assert rows[0].queue_number == "A-001" and rows[0].nik_last4 == "1234"
