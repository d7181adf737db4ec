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

from bot.booking.app import App
from bot.booking.jobs import EmptyAudience
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from bot.infra.embedded import RedisServer
from handlers import build_steps
from tests.channels.drivers.telegram import (
    TelegramDriver,
    callback_update,
    open_channel,
    text_update,
)
from tests.support import NIK_MAN, Recorder, User, confirm_booking, make_app
from workers.broadcasts import create_broadcast
from workers.dayend import notify_closed_core
from workers.jobs import RqJobs

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
    return [(e.actor, e.action, e.result) for e in await app.audit.latest(100)]


async def test_an_applicant_typing_a_staff_command_is_told_it_is_not_staff(
    office: Office,
) -> None:
    applicant = office.user("1001")
    await applicant.says("halo")
    for command in ("/stats", "/quota 2030-03-19 0800-1000 5", "/close 2030-03-19 x", "/checkin X"):
        reply = await applicant.says(command)
        name = command.split()[0]
        assert f"{name} adalah perintah petugas" in reply and "bukan petugas" in reply
        # On the console the person at the keyboard started the process: say how.
        assert "ANTREAN_STAFF=console:1001=admin" in reply
        assert "Mohon pilih" not in reply and "Apa yang ingin Anda lakukan?" in reply
    denied = [a for a in await audit_actions(office.app) if a[2] == "denied"]
    assert {a[1] for a in denied} == {"stats", "quota", "close", "checkin"}
    assert all(a[0].startswith("user:") and "1001" not in a[0] for a in denied)


async def test_a_staff_command_as_the_first_message_is_carried_out(office: Office) -> None:
    """A new session greets, then runs the command instead of dropping it for the menu."""
    booking = await book(office.app, "telegram:77", "a" * 32)
    first = await office.user("admin").says(f"/stats {booking.day.isoformat()}")
    assert "Selamat datang" in first
    assert "08:00" in first and "dipesan 1" in first


async def test_stats_and_quota_on_the_console(office: Office) -> None:
    admin = office.user("admin")
    await admin.says("halo")
    booking = await book(office.app, "telegram:77", "a" * 32)
    day = booking.day.isoformat()
    stats = await admin.says(f"/stats {day}")
    assert "booked 1" in stats.replace("dipesan 1", "booked 1") and "0800" not in stats
    assert "08:00" in stats
    done = await admin.says(f"/quota {day} 08:00 25 {booking.service}")
    assert "Paspor baru: diubah 40 → 25" in done and "1 dari 1 layanan diubah" in done
    [seats] = await office.app.seats.availability(
        [(booking.day, booking.service, {"0800-1000": 0})]
    )
    assert seats["0800-1000"].capacity == 25
    below = await admin.says(f"/quota {day} 0800-1000 0 {booking.service}")
    assert "Paspor baru: tidak diubah, tetap 25: sudah 1 kursi dipesan" in below
    assert "0 dari 1 layanan diubah" in below
    assert "sudah 25" in await admin.says(f"/quota {day} 0800-1000 25 A")
    usage = await admin.says("/quota")
    assert "Cara pakai" in usage and "tanpa LAYANAN semua layanan" in usage
    assert "sudah lewat" in await admin.says("/quota 2030-03-01 0800-1000 5")
    assert "Tidak ada jam" in await admin.says(f"/quota {day} 0700 5")
    assert "bilangan bulat" in await admin.says(f"/quota {day} 0800-1000 -3")
    assert "bukan tanggal" in await admin.says("/stats tomorrow")
    actions = await audit_actions(office.app)
    assert ("console:admin", "quota", "ok") in actions
    assert actions.count(("console:admin", "quota", "refused")) == 4
    assert actions.count(("console:admin", "quota", "unchanged")) == 2


async def test_quota_for_every_service_previews_and_waits_for_a_yes(office: Office) -> None:
    app = office.app
    admin = office.user("admin")
    await admin.says("halo")
    booking = await book(app, "telegram:77", "a" * 32)
    day, iso = booking.day, booking.day.isoformat()
    window = app.office.windows(day)[0]

    async def capacities() -> list[int]:
        requests = [(day, s.id, {window.id: window.capacity(s.id)}) for s in app.office.services]
        return [s[window.id].capacity for s in await app.seats.availability(requests)]

    assert await capacities() == [40, 40, 10]
    renewal = "Penggantian paspor (habis berlaku / halaman penuh)"
    assert "sudah 40" in await admin.says(f"/quota {iso} 0800-1000 40 {renewal}")
    preview = await admin.says(f"/quota {iso} 0800-1000 0")
    assert "SEMUA 3 layanan" in preview
    assert "Paspor baru: tetap 40, karena sudah 1 kursi dipesan" in preview
    assert "Penggantian paspor (habis berlaku / halaman penuh): 40 → 0" in preview
    assert "Paspor hilang / rusak: 10 → 0" in preview
    assert "1. Ya, ubah" in preview and "2. Tidak, batalkan" in preview
    assert await capacities() == [40, 40, 10]  # nothing before the yes
    assert "tidak ada yang diubah" in await admin.says("tidak")
    assert await capacities() == [40, 40, 10]
    await admin.says(f"/quota {iso} 0800-1000 0")
    assert "Jawab *ya* atau *tidak*" in await admin.says("mungkin")
    done = await admin.says("yes")
    assert "2 dari 3 layanan diubah" in done
    assert "Paspor baru: tidak diubah, tetap 40: sudah 1 kursi dipesan" in done
    assert "Paspor hilang / rusak: diubah 10 → 0" in done
    assert "Apa yang ingin Anda lakukan?" in done
    assert await capacities() == [40, 0, 0]
    actions = [a for a in await audit_actions(app) if a[1] == "quota"]
    assert ("console:admin", "quota", "previewed") in actions
    assert ("console:admin", "quota", "cancelled") in actions
    assert ("console:admin", "quota", "ok") in actions
    # Dropped by "batal" at the preview: nothing changes, and the log says so.
    await admin.says(f"/quota {iso} 0800-1000 7")
    await admin.says("batal")
    assert await capacities() == [40, 0, 0]
    [entry] = [e for e in await app.audit.latest(100) if e.details.get("how") == "word"]
    assert (entry.action, entry.result, entry.details["capacity"]) == ("quota", "cancelled", "7")


async def test_quota_past_a_windows_range_of_numbers_says_where_numbers_go(
    office: Office,
) -> None:
    app = office.app
    admin = office.user("admin")
    await admin.says("halo")
    # The first booking fixes the day's numbering plan: 0800-1000 of "Paspor baru" has a range
    # of 50 numbers (40 seats and a margin).
    booking = await book(app, "telegram:77", "a" * 32)
    iso = booking.day.isoformat()
    preview = await admin.says(f"/quota {iso} 0800-1000 60")
    assert "Paspor baru: 40 → 60" in preview
    assert (
        "Catatan, Paspor baru: nomor antrean jam ini sudah direncanakan untuk 50 kursi" in preview
    )
    # No plan yet for the other services (nobody booked them that day): nothing to say.
    assert preview.count("Catatan") == 1
    await admin.says("tidak")
    assert "Catatan" not in await admin.says(f"/quota {iso} 0800-1000 50 A")
    done = await admin.says(f"/quota {iso} 0800-1000 51 A")
    assert "diubah 50 → 51" in done and "direncanakan untuk 50 kursi" in done


@pytest.mark.parametrize(
    "named", ["C", "c", "paspor-hilang-rusak", "Paspor hilang / rusak", "LOST / DAMAGED PASSPORT"]
)
async def test_quota_takes_a_service_by_prefix_id_or_name(office: Office, named: str) -> None:
    app = office.app
    admin = office.user("admin")
    await admin.says("halo")
    day = app.office.bookable_days(app.clock.now())[0]
    done = await admin.says(f"/quota {day.isoformat()} 0800-1000 12 {named}")
    assert "Paspor hilang / rusak: diubah 10 → 12" in done
    assert "Paspor baru" not in done


async def test_quota_names_a_service_by_the_unique_start_of_its_name(office: Office) -> None:
    admin = office.user("admin")
    await admin.says("halo")
    day = office.app.office.bookable_days(office.app.clock.now())[0].isoformat()
    assert "Penggantian paspor" in await admin.says(f"/quota {day} 0800-1000 12 penggantian")
    unknown = await admin.says(f"/quota {day} 0800-1000 12 paspor")  # two names start so
    assert "Tidak ada layanan “paspor”" in unknown and "A (Paspor baru)" in unknown


async def test_help_lists_the_commands_of_the_role(office: Office) -> None:
    admin, desk, applicant = office.user("admin"), office.user("desk"), office.user("1001")
    for user in (admin, desk, applicant):
        await user.says("halo")
    for_admin = await admin.says("bantuan")
    assert all(c in for_admin for c in ("/close", "/reopen", "/quota", "/broadcast", "/stats"))
    for_desk = await desk.says("/help")
    assert "/checkin" in for_desk and "/stats" in for_desk and "/close" not in for_desk
    assert "/" not in (await applicant.says("bantuan")).split("\n\n")[0]


async def test_quota_for_every_service_over_telegram(
    telegram: tuple[TelegramDriver, App],
) -> None:
    driver, app = telegram
    day = app.office.bookable_days(app.clock.now())[0]
    await driver.type("halo")
    seen = await driver.type(f"/quota {day.isoformat()} 0800-1000 25")
    assert "SEMUA 3 layanan" in seen.all_text and "Paspor hilang / rusak: 10 → 25" in seen.all_text
    assert seen.options == ["Ya, ubah", "Tidak, batalkan"]
    assert "tidak ada yang diubah" in (await driver.choose(2)).all_text
    await driver.type(f"/quota {day.isoformat()} 0800-1000 25")
    done = (await driver.choose(1)).all_text
    assert "3 dari 3 layanan diubah" in done and "diubah 10 → 25" in done
    # A chat that is not staff is told so, without the console's hint.
    await driver.deliver(text_update("halo", chat_id=9009))
    seen = await driver.deliver(text_update("/quota 2030-03-19 0800-1000 5", chat_id=9009))
    assert "bukan petugas" in seen.all_text and "ANTREAN_STAFF" not in seen.all_text


async def test_stats_says_why_the_office_is_closed(office: Office) -> None:
    desk = office.user("desk")
    await desk.says("halo")
    assert "tanggal tutup di berkas kantor" in await desk.says("/stats 2030-06-12")
    christmas = await desk.says("/stats 2030-12-25")
    assert "hari libur" in christmas and "*Paspor baru*" not in christmas
    assert "tidak punya jam layanan" in await desk.says("/stats 2030-03-09")  # a Saturday


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
    log = await app.audit.latest(100)
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
    assert "diubah 40 → 30" in (await driver.type(f"/quota {day} 0800-1000 30 A")).all_text
    visit_day(app, booking, clock)
    await driver.type("halo")  # the long wait ended the conversation: start again
    seen = await driver.type(f"/checkin {code_of(app, booking)}")
    assert booking.queue_number in seen.all_text and "Budi Santoso" in seen.all_text
    other = await book(app, "telegram:43", "b" * 32)
    seen = await driver.type(f"/close {other.day.isoformat()} banjir")
    assert "Pemesanan aktif yang akan dibatalkan: 1" in seen.all_text
    assert seen.options == ["Ya, tutup", "Tidak, batalkan"]
    assert (await app.seats.get(other.id)).status == "active"  # type: ignore[union-attr]
    seen = await driver.choose(1)
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
    assert "Pemesanan aktif yang akan dibatalkan: 3" in seen.all_text
    seen = await driver.type("ya")
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
    jobs = RqJobs(Queue("antrean", connection=connection))
    app.jobs = jobs
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
    assert jobs.queue.count == 0  # nothing before the explicit confirmation
    assert "sedang dikirim" in await admin.says("1")
    assert jobs.queue.count >= 1
    actions = await audit_actions(app)
    assert ("console:admin", "broadcast", "started") in actions
    # Abandoning at the preview sends nothing.
    await admin.says("/broadcast active")
    await admin.says("teks")
    await admin.says("text")
    queued = jobs.queue.count
    assert "Jawab *ya* atau *tidak*" in await admin.says("entahlah")
    assert "Dibatalkan" in await admin.says("tidak")
    assert jobs.queue.count == queued
    # Typed "yes" sends; "batal" while writing drops it, and the log says so.
    for text in ("/broadcast active", "teks", "-"):
        await admin.says(text)
    assert "sedang dikirim" in await admin.says("yes")
    assert jobs.queue.count > queued
    await admin.says("/broadcast active")
    await admin.says("batal")
    assert ("console:admin", "broadcast", "cancelled") in await audit_actions(app)
    connection.close()


async def test_a_broadcast_to_nobody_is_refused(office: Office, redis_server: RedisServer) -> None:
    app = office.app
    connection = SyncRedis.from_url(redis_server.url)
    jobs = RqJobs(Queue("antrean", connection=connection))
    app.jobs = jobs
    admin = office.user("admin")
    await admin.says("halo")
    day = app.office.bookable_days(app.clock.now())[0].isoformat()
    refused = await admin.says(f"/broadcast day:{day}")
    assert "Tidak ada pemohon" in refused and "Tidak ada yang dikirim" in refused
    assert "Ketik pesan" not in refused and "Apa yang ingin Anda lakukan?" in refused
    # Everyone in the audience cancelled between the preview and the yes.
    booking = await book(app, "telegram:61", "c" * 32)
    assert "1 pemohon" in await admin.says(f"/broadcast day:{day}")
    await admin.says("Pengumuman")
    assert "Kirim?" in await admin.says("-")
    await app.seats.cancel(booking.id, account=None)
    assert "Tidak ada pemohon" in await admin.says("1")
    assert jobs.queue.count == 0
    with pytest.raises(EmptyAudience):
        await create_broadcast(app, jobs.queue, audience="active", texts={"id": "x"}, starter="cli")
    log = [(a, r) for _, a, r in await audit_actions(app) if a == "broadcast"]
    assert log.count(("broadcast", "refused")) == 2
    connection.close()


async def test_broadcast_over_telegram(
    telegram: tuple[TelegramDriver, App], redis_server: RedisServer
) -> None:
    driver, app = telegram
    await book(app, "telegram:42", app.niks.hash(NIK_MAN))
    connection = SyncRedis.from_url(redis_server.url)
    jobs = RqJobs(Queue("antrean", connection=connection))
    app.jobs = jobs
    await driver.type("halo")
    assert "1 pemohon" in (await driver.type("/broadcast active")).all_text
    await driver.type("Pengumuman")
    seen = await driver.type("-")
    assert "Pratinjau" in seen.all_text and "Kirim" in seen.options
    assert "sedang dikirim" in (await driver.choose(1)).all_text
    assert jobs.queue.count >= 1
    connection.close()


# -- /masuk, /login ---------------------------------------------------------------------------


def link_in(reply: str) -> str:
    [link] = [word for word in reply.split() if "/staff/masuk?t=" in word]
    return link


async def test_masuk_sends_a_single_use_link_of_the_staff_member(office: Office) -> None:
    from bot.booking.staff_access import Grant, token_hash
    from bot.infra.keys import StaffKeys

    desk = office.user("desk")
    await desk.says("halo")
    reply = await desk.says("/masuk")
    assert "sekali pakai, berlaku 5 menit" in reply
    link = link_in(reply)
    # The default base: where `antrean run` listens.
    assert link.startswith("http://127.0.0.1:8080/staff/masuk?t=") and link.endswith("&lang=id")
    token = link.split("t=")[1].split("&")[0]
    grant = await office.app.staff_access.peek(token)
    assert isinstance(grant, Grant) and (grant.identity, grant.role) == ("console:desk", "officer")
    key = StaffKeys(office.app.office.id).signin(token_hash(token))
    assert await office.app.redis.exists(key)
    # A second /masuk is a second link; both work (once each).
    assert link_in(await desk.says("/MASUK")) != link
    assert ("console:desk", "signin_link", "ok") in await audit_actions(office.app)


async def test_login_in_english_with_a_public_url(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(
        redis,
        clock,
        tmp_path,
        staff=STAFF,
        default_locale="en",
        public_url="https://antrean.example.go.id/",
        signin_link_minutes=3,
    )
    recorder = Recorder()
    user = User(Engine(app, build_steps(), {"console": recorder}), recorder, "admin")
    await user.says("hello")
    reply = await user.says("/login")
    assert "single use, valid for 3 minutes" in reply
    link = link_in(reply)
    assert link.startswith("https://antrean.example.go.id/staff/masuk?t=")
    assert link.endswith("&lang=en")


async def test_an_applicant_gets_no_sign_in_link(office: Office) -> None:
    applicant = office.user("1001")
    await applicant.says("halo")
    for command in ("/masuk", "/login"):
        reply = await applicant.says(command)
        assert f"{command} adalah perintah petugas" in reply and "staff/masuk" not in reply
    assert [k async for k in office.app.redis.scan_iter("*signin*")] == []
    denied = [a for a in await audit_actions(office.app) if a[2] == "denied"]
    assert {a[1] for a in denied} == {"masuk", "login"}
