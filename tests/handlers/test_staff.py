"""Staff commands on the console (tests.support.User) and on Telegram (the fake Bot API)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from rq import Queue

from bot.app import App
from bot.audit import Audit
from bot.clock import ManualClock
from bot.embedded import RedisServer
from bot.engine import Engine
from bot.seats import Booking
from handlers import build_steps
from tests.channels.drivers.telegram import TelegramDriver, callback_update, open_channel
from tests.support import NIK_MAN, Recorder, User, confirm_booking, make_app
from workers.dayend import notify_closed_core

STAFF = "console:admin=admin,console:desk=officer,telegram:5550001=admin"


@dataclass
class Office:
    app: App
    engine: Engine
    recorder: Recorder

    def user(self, user_id: str) -> User:
        return User(self.engine, self.recorder, user_id)


@pytest.fixture
def office(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> Office:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    recorder = Recorder()
    return Office(app, Engine(app, build_steps(), {"console": recorder}), recorder)


async def book(app: App, account: str, nik_hash: str, locale: str = "id") -> Booking:
    return await confirm_booking(app, account, nik_hash, locale=locale)


def visit_day(app: App, booking: Booking, clock: ManualClock) -> None:
    """Move the clock to the morning of the booking's day (office time)."""
    clock.set(datetime.combine(booking.day, time(7, 30), tzinfo=app.office.tz))


def code_of(app: App, booking: Booking) -> str:
    return app.codes.code(app.office.id, booking.id, booking.nik_hash)


async def audit_actions(app: App) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.result) for e in await Audit.of(app).latest(100)]


async def test_an_applicant_typing_a_staff_command_gets_the_unknown_word_reply(
    office: Office,
) -> None:
    applicant = office.user("1001")
    await applicant.says("halo")
    unknown = (await applicant.says("/whatever")).replace("/whatever", "…")
    for command in ("/stats", "/quota 2030-03-19 0800-1000 5", "/close 2030-03-19 x", "/checkin X"):
        # The refusal quotes what was typed, and says nothing else about it.
        assert (await applicant.says(command)).replace(command, "…") == unknown
    denied = [a for a in await audit_actions(office.app) if a[2] == "denied"]
    assert {a[1] for a in denied} == {"stats", "quota", "close", "checkin"}
    assert all(a[0].startswith("user:") and "1001" not in a[0] for a in denied)


async def test_stats_and_quota_on_the_console(office: Office) -> None:
    admin = office.user("admin")
    await admin.says("halo")
    booking = await book(office.app, "telegram:77", "a" * 32)
    day = booking.day.isoformat()
    stats = await admin.says(f"/stats {day}")
    assert "booked 1" in stats.replace("dipesan 1", "booked 1") and "0800" not in stats
    assert "08:00" in stats
    done = await admin.says(f"/quota {day} 08:00 25 {booking.service}")
    assert "25" in done
    [seats] = await office.app.seats.availability(
        [(booking.day, booking.service, {"0800-1000": 0})]
    )
    assert seats["0800-1000"].capacity == 25
    below = await admin.says(f"/quota {day} 0800-1000 0 {booking.service}")
    assert "1 kursi" in below and "Tidak ada yang diubah" in below
    assert "Cara pakai" in await admin.says("/quota")
    assert "sudah lewat" in await admin.says("/quota 2030-03-01 0800-1000 5")
    assert "Tidak ada jam" in await admin.says(f"/quota {day} 0700 5")
    assert "bilangan bulat" in await admin.says(f"/quota {day} 0800-1000 -3")
    assert "bukan tanggal" in await admin.says("/stats tomorrow")
    actions = await audit_actions(office.app)
    assert ("console:admin", "quota", "ok") in actions
    assert actions.count(("console:admin", "quota", "refused")) == 5


async def test_an_officer_may_not_change_quotas(office: Office) -> None:
    desk = office.user("desk")
    await desk.says("halo")
    assert "Hanya admin" in await desk.says("/quota 2030-03-19 0800-1000 5")
    assert "Hanya admin" in await desk.says("/close 2030-03-19 banjir")
    assert "Kursi pada" in await desk.says("/stats")


async def test_checkin_shows_the_id_match_and_refuses_bad_codes(
    office: Office, clock: ManualClock
) -> None:
    app = office.app
    applicant = office.user("1001")
    for text in ("halo", "1", "1", "1", "1", NIK_MAN, "budi santoso", "1"):
        await applicant.says(text)
    [booking] = await app.seats.active_for_account("console:1001")
    desk = office.user("desk")
    await desk.says("halo")
    code = code_of(app, booking)
    assert "bukan hari ini" in await desk.says(f"/checkin {code}")
    visit_day(app, booking, clock)
    await desk.says("halo")
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert "tidak sah" in await desk.says(f"/checkin {forged}")
    assert "bukan kode" in await desk.says("/checkin hello")
    assert "Cara pakai" in await desk.says("/checkin")
    ok = await desk.says(f"/checkin {code.lower()}")
    assert booking.queue_number in ok and "Budi Santoso" in ok and "0001" in ok
    assert NIK_MAN not in ok
    assert "sudah dipakai" in await desk.says(f"/checkin {code}")
    stats = await desk.says("/stats")
    assert "hadir 1" in stats
    log = await Audit.of(app).latest(100)
    assert [e.result for e in log if e.action == "checkin"].count("ok") == 1
    assert any(e.action == "checked_in" for e in log)
    assert all(NIK_MAN not in e.line() for e in log)


async def test_two_counters_scanning_one_code_at_once_admit_it_once(
    office: Office, clock: ManualClock
) -> None:
    app = office.app
    booking = await book(app, "telegram:77", app.niks.hash(NIK_MAN))
    visit_day(app, booking, clock)
    admin, desk = office.user("admin"), office.user("desk")
    await asyncio.gather(admin.says("halo"), desk.says("halo"))
    code = code_of(app, booking)
    replies = await asyncio.gather(admin.says(f"/checkin {code}"), desk.says(f"/checkin {code}"))
    assert sum("✅" in r for r in replies) == 1
    assert sum("sudah dipakai" in r for r in replies) == 1
    assert (await app.seats.get(booking.id)).status == "checked_in"  # type: ignore[union-attr]


@pytest.fixture
async def telegram(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[tuple[TelegramDriver, App]]:
    async with (
        open_channel(redis, clock, tmp_path, staff=STAFF) as (fake, app, channel, base),
        aiohttp.ClientSession() as http,
    ):
        driver = TelegramDriver(fake, http, base)
        driver.channel = channel  # type: ignore[attr-defined]
        yield driver, app


async def test_every_command_over_telegram(
    telegram: tuple[TelegramDriver, App], clock: ManualClock
) -> None:
    driver, app = telegram
    booking = await book(app, "telegram:42", app.niks.hash(NIK_MAN))
    day = booking.day.isoformat()
    await driver.type("halo")
    assert "dipesan 1" in (await driver.type(f"/stats {day}")).all_text
    assert "kapasitas sekarang 30" in (await driver.type(f"/quota {day} 0800-1000 30")).all_text
    visit_day(app, booking, clock)
    await driver.type("halo")  # the long wait ended the conversation: start again
    seen = await driver.type(f"/checkin {code_of(app, booking)}")
    assert booking.queue_number in seen.all_text and "Budi Santoso" in seen.all_text
    other = await book(app, "telegram:43", "b" * 32)
    seen = await driver.type(f"/close {other.day.isoformat()} banjir")
    assert "Pemesanan dibatalkan: 1" in seen.all_text
    assert (await app.seats.get(other.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_close_tells_every_booked_applicant_once_in_their_language(
    telegram: tuple[TelegramDriver, App],
) -> None:
    driver, app = telegram
    chats = [9001, 9002, 9003]
    bookings = [
        await book(app, f"telegram:{chat}", f"{chat:032d}", locale=lang)
        for chat, lang in zip(chats, ["id", "en", "id"], strict=True)
    ]
    day = bookings[0].day
    await driver.type("halo")
    seen = await driver.type(f"/close {day.isoformat()} pemadaman listrik")
    assert "Pemesanan dibatalkan: 3" in seen.all_text
    channels = {"telegram": driver.channel}  # type: ignore[attr-defined]
    first = await notify_closed_core(app, channels, day, "pemadaman listrik")
    again = await notify_closed_core(app, channels, day, "pemadaman listrik")
    assert first == {"sent": 3} and again == {"skipped": 3}
    for chat, booking in zip(chats, bookings, strict=True):
        [call] = [c for c in driver.fake.of("sendMessage", chat)]
        text = call.params["text"]
        assert booking.queue_number in text
        assert ("closed on" in text) == (booking.locale == "en")
        [[button]] = call.params["reply_markup"]["inline_keyboard"]
        assert button["callback_data"] == "book"
    # Tapped from the menu (where a finished booking leaves the applicant) it starts booking.
    tap = await driver.deliver(callback_update("book", 1, chat_id=chats[0]))
    assert "Pilih layanan" in tap.all_text or "Selamat datang" in tap.all_text


async def test_broadcast_previews_and_sends_only_when_confirmed(
    office: Office, redis_server: RedisServer
) -> None:
    app = office.app
    await book(app, "telegram:61", "c" * 32)
    await book(app, "whatsapp:6281200000001", "d" * 32, locale="en")
    connection = SyncRedis.from_url(redis_server.url)
    app.queue = Queue("antrean", connection=connection)
    admin, desk, applicant_user = office.user("admin"), office.user("desk"), office.user("x")
    for user in (admin, desk, applicant_user):
        await user.says("halo")
    # An applicant's "/broadcast" is just an unknown word; an officer is told it needs an admin.
    assert "Siaran" not in await applicant_user.says("/broadcast active")
    assert "admin" in await desk.says("/broadcast active")
    assert "Cara pakai" in await admin.says("/broadcast everyone")
    assert "2 pemohon" in await admin.says("/broadcast active")
    await admin.says("Kantor tutup besok karena banjir.")
    preview = await admin.says("-")
    assert "Kantor tutup besok" in preview and "2 pemohon" in preview
    assert app.queue.count == 0  # nothing before the explicit confirmation
    assert "sedang dikirim" in await admin.says("1")
    assert app.queue.count >= 1
    actions = await audit_actions(app)
    assert ("console:admin", "broadcast", "started") in actions
    # Abandoning at the preview sends nothing.
    await admin.says("/broadcast active")
    await admin.says("teks")
    await admin.says("text")
    jobs = app.queue.count
    assert "Dibatalkan" in await admin.says("2")
    assert app.queue.count == jobs
    connection.close()


async def test_broadcast_over_telegram(
    telegram: tuple[TelegramDriver, App], redis_server: RedisServer
) -> None:
    driver, app = telegram
    await book(app, "telegram:42", app.niks.hash(NIK_MAN))
    connection = SyncRedis.from_url(redis_server.url)
    app.queue = Queue("antrean", connection=connection)
    await driver.type("halo")
    assert "1 pemohon" in (await driver.type("/broadcast active")).all_text
    await driver.type("Pengumuman")
    seen = await driver.type("-")
    assert "Pratinjau" in seen.all_text and "Kirim" in seen.options
    assert "sedang dikirim" in (await driver.choose(1)).all_text
    assert app.queue.count >= 1
    connection.close()
