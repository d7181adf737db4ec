"""Anti-scalper rules end to end: fair release against bots, NIKs across offices, strikes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.counter import NikRegistry
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from bot.errors import ConfigError
from bot.infra.keys import StaffKeys
from handlers import build_steps
from tests.support import Recorder, User, make_app, make_engine
from workers.dayend import dayend_core

# 06:55 in Jakarta on Tue 5 March 2030: 2030-03-19 opens at 07:00 (14 days ahead).
BEFORE_OPENING = datetime(2030, 3, 4, 23, 55, tzinfo=UTC)
OPENING = datetime(2030, 3, 5, 0, 0, tzinfo=UTC)
DAY = date(2030, 3, 19)


def nik(region: str, n: int) -> str:
    return f"3171{region}150885{n:04d}"


async def test_bots_at_the_opening_second_win_no_more_than_their_share(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    clock = ManualClock(BEFORE_OPENING)
    app = make_app(redis, clock, tmp_path)
    recorder = Recorder()
    engine = Engine(app, build_steps(), {"console": recorder})
    service = app.office.services[0].id
    for window, seats in zip(("0800-1000", "1000-1200", "1300-1500"), (40, 40, 20), strict=True):
        await app.seats.set_capacity(day=DAY, service=service, window=window, capacity=seats)

    genuine = [User(engine, recorder, f"g{i}") for i in range(200)]
    for i, user in enumerate(genuine):  # they arrive in the minutes before the opening
        clock.set(BEFORE_OPENING + timedelta(seconds=i))
        await user.says("halo")
        await user.says("1")
        await user.says("1")
        joined = await user.says(option=f"pre:{DAY.isoformat()}")
        assert "pra-antrean" in joined, (user.user_id, clock.now(), joined[:300])

    bots = [User(engine, recorder, f"bot{i}") for i in range(20)]
    bot_niks = [[nik("02", 10 * b + k + 1) for k in range(10)] for b in range(20)]
    for bot in bots:
        await bot.says("halo")
    clock.set(OPENING)

    async def scripted(bot: User, niks: list[str]) -> None:
        await bot.says("1")
        await bot.says("1")
        await bot.says(option=DAY.isoformat())
        await bot.says("1")
        await bot.says("0071011508850001")  # invalid province: refused
        for value in niks:  # then NIK after NIK, booking again after each success
            await bot.says(value)
            await bot.says("Budi Calo")
            await bot.says("1")
            for text in ("1", "1", DAY.isoformat(), "1"):
                await bot.says(text)

    async def person(user: User, n: int) -> None:
        await user.says("1")  # Continue, once it is their turn
        await user.says(nik("01", n + 1))
        await user.says("Siti Aminah")
        await user.says("1")

    await asyncio.gather(*(scripted(b, n) for b, n in zip(bots, bot_niks, strict=True)))
    for start in range(0, len(genuine), 20):  # as many at once as the test's Redis pool allows
        batch = enumerate(genuine[start : start + 20], start)
        await asyncio.gather(*(person(u, i) for i, u in batch))

    bookings: list[Booking] = []
    for user in bots + genuine:
        bookings += await app.seats.active_for_account(f"console:{user.user_id}")
    on_day = [b for b in bookings if b.day == DAY]
    assert len(on_day) == 100
    accounts = [b.account for b in bookings]
    assert len(accounts) == len(set(accounts))  # the cap of 1 per account
    assert len({b.nik_hash for b in bookings}) == len(bookings)
    valid = {app.niks.hash(nik("01", i + 1)) for i in range(200)}
    valid |= {app.niks.hash(v) for niks in bot_niks for v in niks}
    assert {b.nik_hash for b in bookings} <= valid  # invalid NIKs got nothing
    bot_seats = sum(b.account.startswith("console:bot") for b in on_day)
    bot_requests = sum(len(n) for n in bot_niks)
    assert bot_seats / len(on_day) <= bot_requests / (bot_requests + len(genuine))


async def test_one_active_booking_per_nik_across_offices(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    registry = NikRegistry(redis, clock)
    day = date(2030, 3, 6)
    assert await registry.claim("h" * 32, "office-a", "AAAAAA", day)
    assert await registry.claim("h" * 32, "office-a", "AAAAAA", day)  # the same booking again
    assert not await registry.claim("h" * 32, "office-b", "BBBBBB", day)
    # A claim whose booking never appeared is void after the grace period.
    clock.advance(timedelta(minutes=16))
    assert await registry.claim("h" * 32, "office-b", "BBBBBB", day)
    await registry.release("h" * 32, "office-b", "BBBBBB")
    assert await registry.claim("h" * 32, "office-a", "CCCCCC", day)


async def test_two_no_shows_block_the_nik_when_confirming(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path)
    engine = Engine(app, build_steps(), {"console": (recorder := Recorder())})
    the_nik = nik("01", 7)

    async def book_and_skip(user_id: str) -> None:
        user = User(engine, recorder, user_id)
        for text in ("halo", "1", "1", "1", "1", the_nik, "budi santoso", "1"):
            await user.says(text)
        [booking] = await app.seats.active_for_account(f"console:{user_id}")
        clock.set(datetime.combine(booking.day + timedelta(days=1), datetime.min.time(), UTC))
        tally = await dayend_core(app, booking.day)
        assert tally == {"marked": 1}
        assert await dayend_core(app, booking.day) == {"no_show": 1}  # idempotent
        assert (await app.seats.get(booking.id)).status == "no_show"  # type: ignore[union-attr]

    await book_and_skip("u1")
    await book_and_skip("u2")
    user = User(engine, recorder, "u3")
    for text in ("halo", "1", "1", "1", "1"):
        await user.says(text)
    assert "nama lengkap" in await user.says(the_nik)  # checked in the claim, when confirming
    await user.says("budi santoso")
    refused = await user.says("1")
    assert "tidak dapat memesan sampai" in refused and "Ketik NIK" in refused
    assert not await app.seats.active_for_account("console:u3")
    entries = await redis.xrange(StaffKeys(app.office.id).audit)
    assert any(e.get("reason") == "strikes" for _, e in entries)
    # Another NIK books (a free seat: the held one went back), the name kept.
    assert "Budi Santoso" in await user.says(nik("01", 8))
    assert "A-0" in await user.says("1")
    assert await NikRegistry(redis, clock).blocked_until(app.niks.hash(the_nik)) is not None


async def test_a_silent_wait_in_the_pre_queue_keeps_the_seat_held_at_the_opening(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    # The longest wait allowed: joined 20 minutes before the opening, the seat held for 10
    # minutes after it, a conversation idle after 30.
    clock = ManualClock(OPENING - timedelta(minutes=20))
    app = make_app(redis, clock, tmp_path, prerelease_minutes=20, session_idle_minutes=30)
    user = User(*make_engine(app), "6001")
    await user.says("halo")
    await user.says("1")  # book
    await user.says("1")  # the service
    assert "pra-antrean" in await user.says(option=f"pre:{DAY.isoformat()}")
    clock.set(OPENING + timedelta(minutes=9, seconds=50))  # said nothing since
    reply = await user.says("1")  # Continue
    assert "ditahan" in reply and reply.endswith("Ketik NIK Anda (16 angka sesuai e-KTP):")
    assert "tidak aktif" not in reply


def test_a_pre_queue_that_outlasts_the_conversation_is_refused_at_start_up(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    # Found by bench/network_burst.py: with the pre-queue open 70 minutes before the opening,
    # applicants who joined it early and then waited were greeted at the opening with "the
    # conversation was idle, starting again", and the seat held for them was lost.
    clock = ManualClock(BEFORE_OPENING)
    with pytest.raises(ConfigError, match=r"ANTREAN_SESSION_IDLE_MINUTES to 35 or more"):
        make_app(redis, clock, tmp_path, prerelease_minutes=25, session_idle_minutes=30)
    with pytest.raises(ConfigError, match="ANTREAN_PRERELEASE_MINUTES"):
        make_app(redis, clock, tmp_path, prerelease_minutes=70)
    make_app(redis, clock, tmp_path, prerelease_minutes=70, session_idle_minutes=80)
    make_app(redis, clock, tmp_path, prerelease_minutes=0, session_idle_minutes=5)
