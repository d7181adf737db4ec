"""The satisfaction survey conversation (handlers/survey.py) end to end through the channel
drivers: served at the counter -> the worker's invitation (workers/calls.py) -> nine answers ->
a comment -> recorded once; stopping and declining record nothing; a second attempt, a booking
not served and another account's booking are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.audit import applicant
from bot.booking.seats import Booking
from bot.booking.survey import RECORDED
from bot.core.channel import Channel
from bot.core.clock import ManualClock
from tests.channels.drivers import Driver, Seen, discover
from tests.channels.drivers.console import ConsoleDriver
from tests.channels.drivers.telegram import CHAT_ID, TelegramDriver, callback_update
from tests.channels.drivers.whatsapp import WA_ID, WhatsAppDriver, seen_of
from tests.handlers.test_staff import STAFF, Office, book, office, visit_day
from tests.support import make_app
from workers.calls import tell_served_core

__all__ = ["office"]  # fixtures

DRIVERS = discover()
IDENTITY = {
    "console": "console:tester",
    "telegram": f"telegram:{CHAT_ID}",
    "whatsapp": f"whatsapp:{WA_ID}",
}
SCORES = [4, 3, 2, 4, 3, 4, 4, 1, 3]
COUNTER = "console:desk"


@pytest.fixture(params=sorted(DRIVERS))
async def opened(
    request: pytest.FixtureRequest, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[tuple[str, Driver, App]]:
    """A channel's driver, and an app on the same Redis for the counter and the worker."""
    async with DRIVERS[request.param](redis, clock, tmp_path / "driver") as driver:
        yield request.param, driver, make_app(redis, clock, tmp_path, staff=STAFF)


async def served(app: App, account: str, clock: ManualClock, nik: str = "a" * 32) -> Booking:
    """A booking of ``account``, on its day: checked in, called and served at counter 2."""
    booking = await book(app, account, nik)
    visit_day(app, booking, clock)
    await serve(app, booking)
    return booking


async def serve(app: App, booking: Booking) -> None:
    await app.desk.check_in(booking.id, staff=COUNTER)
    await app.desk.call_next(2, staff=COUNTER)
    await app.desk.served(2, staff=COUNTER)


async def invite(name: str, driver: Driver, app: App, booking: Booking) -> Seen:
    """The worker's invitation after "served", as the driver's user sees it."""
    if isinstance(driver, ConsoleDriver):
        assert driver.console is not None
        channels: dict[str, Channel] = {name: driver.console}
        tally: dict[str, int] = {}

        async def job() -> None:
            tally.update(await tell_served_core(app, channels, booking.id))

        seen = await driver._printed(job())
    elif isinstance(driver, TelegramDriver):
        assert driver.channel is not None
        before = len(driver.fake.calls)
        tally = await tell_served_core(app, {name: driver.channel}, booking.id)
        seen = driver.seen(driver.fake.calls[before:])
    else:
        assert isinstance(driver, WhatsAppDriver)
        before = len(driver.fake.to(driver.wa_id))
        tally = await tell_served_core(app, {name: driver.channel}, booking.id)
        seen = seen_of(driver.fake.to(driver.wa_id)[before:])
    assert tally == {"sent": 1}
    return seen


async def take(name: str, driver: Driver) -> Seen:
    """Take the survey: the invitation's first button, or /survei where there are none."""
    return await driver.type("/survei") if name == "console" else await driver.choose(1)


async def test_served_invited_nine_answers_a_comment_recorded_once(
    opened: tuple[str, Driver, App], clock: ManualClock
) -> None:
    name, driver, app = opened
    booking = await served(app, IDENTITY[name], clock)
    await driver.type("halo")  # (WhatsApp: within the 24 hours when free-form messages go)
    seen = await invite(name, driver, app, booking)
    assert f"nomor {booking.queue_number} sudah selesai dilayani" in seen.all_text
    if name != "console":
        assert seen.options == ["Isi survei", "Tidak, terima kasih"]
    seen = await take(name, driver)
    assert "(1/9) Bagaimana pendapat Anda tentang kesesuaian persyaratan" in seen.all_text
    assert seen.options == [
        "Tidak sesuai",
        "Kurang sesuai",
        "Sesuai",
        "Sangat sesuai",
        "Hentikan survei",
    ]
    for n, score in enumerate(SCORES, 1):
        if n > 1:
            assert f"({n}/9)" in seen.all_text
        seen = await driver.choose(score)
    assert "saran atau masukan" in seen.all_text and seen.options == ["Tanpa saran"]
    assert (await app.desk.surveys.day(booking.day)).index is None  # nothing before the end
    seen = await driver.type("Petugas ramah, NIK saya 3171011508850001")
    assert "Terima kasih! Jawaban Anda sudah kami catat" in seen.all_text
    survey = await app.desk.surveys.day(booking.day)
    assert survey.index is not None and survey.index.respondents == 1
    assert survey.index.sums == tuple(SCORES)
    assert [c.text for c in survey.comments] == ["Petugas ramah, NIK saya [NIK]"]
    # Once: typed again, or the invitation sent again (a retried job: it is not).
    seen = await driver.type("/survei")
    assert "Survei untuk kunjungan ini sudah Anda isi" in seen.all_text
    assert await tell_served_core(app, {}, booking.id) == {"skipped": 1}
    assert (await app.desk.surveys.day(booking.day)).index.respondents == 1  # type: ignore[union-attr]


async def test_declining_or_stopping_records_nothing(
    opened: tuple[str, Driver, App], clock: ManualClock
) -> None:
    name, driver, app = opened
    booking = await served(app, IDENTITY[name], clock)
    await driver.type("halo")
    await invite(name, driver, app, booking)
    if name != "console":
        seen = await driver.choose(2)
        assert "terima kasih atas kunjungan Anda" in seen.all_text
    seen = await driver.type("/survei")
    seen = await driver.choose(3)
    assert "(2/9)" in seen.all_text
    seen = await driver.choose(5)  # stop the survey
    assert "Survei dihentikan" in seen.all_text
    assert (await app.desk.surveys.day(booking.day)).index is None
    # Not answered: it may be taken later, skipping the comment this time.
    await driver.type("/survei")
    for _ in range(9):
        seen = await driver.choose(4)
    seen = await driver.choose(1)
    assert "Terima kasih!" in seen.all_text
    survey = await app.desk.surveys.day(booking.day)
    assert survey.index is not None and survey.index.sums == (4,) * 9
    assert survey.comments == ()


@pytest.fixture
async def telegram_app(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[tuple[TelegramDriver, App]]:
    async with DRIVERS["telegram"](redis, clock, tmp_path / "driver") as driver:
        assert isinstance(driver, TelegramDriver)
        yield driver, make_app(redis, clock, tmp_path, staff=STAFF)


async def test_only_a_served_booking_of_ones_own_account_once(
    telegram_app: tuple[TelegramDriver, App], clock: ManualClock
) -> None:
    driver, app = telegram_app
    office = app.office.id
    mine = await book(app, IDENTITY["telegram"], "a" * 32)
    theirs = await book(app, "telegram:777", "b" * 32)
    assert mine.day == theirs.day
    visit_day(app, mine, clock)
    await serve(app, mine)
    await serve(app, theirs)
    # Another booking of the same account (the first is no longer active), not served.
    waiting = await book(app, IDENTITY["telegram"], "c" * 32)
    await driver.type("halo")

    async def tap(data: str) -> Seen:
        return await driver.deliver(callback_update(data, 99))

    seen = await tap(f"ikm:go:{office}:{theirs.id}")
    assert "bukan untuk akun Anda" in seen.all_text
    seen = await tap(f"ikm:go:{office}:{waiting.id}")
    assert "hanya untuk kunjungan yang sudah selesai dilayani" in seen.all_text
    seen = await tap(f"ikm:go:{office}:NOSUCH")
    assert "sudah tidak ada" in seen.all_text
    seen = await tap(f"ikm:go:kantor-lain:{mine.id}")
    assert "tombol itu sudah tidak berlaku" in seen.all_text.lower()
    # Mid-booking, the invitation's button still takes the survey (the booking is left).
    await driver.type("menu")
    await driver.choose(1)
    seen = await tap(f"ikm:go:{office}:{mine.id}")
    assert "(1/9)" in seen.all_text
    for _ in range(9):
        seen = await driver.choose(3)
    await driver.choose(1)
    seen = await tap(f"ikm:go:{office}:{mine.id}")
    assert "sudah Anda isi" in seen.all_text
    # Nothing recorded for the refusals; the answer counted once.
    survey = await app.desk.surveys.day(mine.day)
    assert survey.index is not None and survey.index.respondents == 1
    actions = [(e.actor, e.action) for e in await app.audit.latest(50)]
    assert (applicant(IDENTITY["telegram"]), "survey") in actions


async def test_the_survey_in_english(
    telegram_app: tuple[TelegramDriver, App], clock: ManualClock
) -> None:
    driver, app = telegram_app
    booking = await book(app, IDENTITY["telegram"], "a" * 32, locale="en")
    visit_day(app, booking, clock)
    await app.desk.check_in(booking.id, staff=COUNTER)
    await app.desk.call_next(1, staff=COUNTER)
    await app.desk.served(1, staff=COUNTER)
    await driver.type("language")
    await driver.choose(2)
    before = len(driver.fake.calls)
    assert await tell_served_core(app, {"telegram": driver.channel}, booking.id) == {"sent": 1}  # type: ignore[dict-item]
    seen = driver.seen(driver.fake.calls[before:])
    assert f"number {booking.queue_number} has been served" in seen.all_text
    assert seen.options == ["Take the survey", "No, thanks"]
    seen = await driver.choose(1)
    assert "(1/9) How well do the service's requirements fit" in seen.all_text
    assert seen.options[-1] == "Stop the survey"
    for _ in range(3):
        seen = await driver.choose(2)
    assert seen.options[:4] == ["Very expensive", "Fairly expensive", "Cheap", "Free"]


async def test_whatsapp_outside_its_window_gets_the_text_and_types_survei(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with DRIVERS["whatsapp"](redis, clock, tmp_path / "driver") as driver:
        assert isinstance(driver, WhatsAppDriver)
        app = make_app(redis, clock, tmp_path, staff=STAFF)
        await driver.type("halo")
        booking = await served(app, IDENTITY["whatsapp"], clock)  # days later
        before = len(driver.fake.to(WA_ID))
        tally = await tell_served_core(app, {"whatsapp": driver.channel}, booking.id)
        assert tally == {"sent": 1}
        [template] = driver.fake.to(WA_ID)[before:]
        assert template["type"] == "template"
        assert "ketik /survei" in json.dumps(template, ensure_ascii=False)
        # The session expired meanwhile: greeted, then the survey.
        seen = await driver.type("/survei")
        assert "(1/9)" in seen.all_text and len(seen.options) == 5


async def test_stats_shows_the_days_ikm(office: Office, clock: ManualClock) -> None:
    app = office.app
    bookings = [await book(app, f"telegram:{800 + i}", f"{i:032d}") for i in range(3)]
    visit_day(app, bookings[0], clock)
    admin = office.user("admin")
    await admin.says("halo")
    assert "IKM: belum ada responden." in await admin.says("/stats")
    answers = ([4] * 9, [3] * 9, [4, 4, 3, 4, 3, 4, 4, 3, 4])
    for booking, scores in zip(bookings, answers, strict=True):
        await serve(app, booking)
        outcome = await app.desk.surveys.record(
            booking.id, account=booking.account, day=booking.day, scores=scores, comment=""
        )
        assert outcome == RECORDED
    # Sums 11,11,10,11,10,11,11,10,11 of 3: IKM = 96 / 27 = 3.5556; x 25 = 88.89: A.
    stats = await admin.says("/stats")
    assert "IKM: 3 responden · nilai 88.89 · mutu A (Sangat Baik)" in stats
    # Another day has its own.
    other = (bookings[0].day + timedelta(days=1)).isoformat()
    assert "IKM: belum ada responden." in await admin.says(f"/stats {other}")
    assert "English" in await admin.says("language")
    await admin.says("2")
    assert "IKM: 3 respondents · score 88.89 · grade A (Very good)" in await admin.says("/stats")
