from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.audit import applicant
from bot.core.clock import ManualClock
from bot.core.messages import Choices, Image, Text
from bot.core.sessions import Session
from bot.infra.embedded import RedisServer
from bot.infra.keys import SessionKeys, StaffKeys
from tests.counting import CountingRedis
from tests.support import (
    NIK_MAN,
    NIK_WOMAN,
    User,
    confirm_booking,
    make_app,
    make_engine,
    text_of,
)


@pytest.fixture
def user(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> User:
    engine, recorder = make_engine(make_app(redis, clock, tmp_path))
    return User(engine, recorder)


async def book(user: User, nik: str = NIK_MAN, name: str = "budi santoso") -> str:
    await user.says("halo")
    await user.says("1")  # book
    await user.says("1")  # first service
    await user.says("1")  # first day
    await user.says("1")  # first window
    await user.says(nik)
    await user.says(name)
    return await user.says("1")  # yes


async def test_a_whole_booking(user: User, redis: aioredis.Redis) -> None:
    first = await user.says("halo")
    assert "Selamat datang" in first and "Ambil antrean" in first
    assert "Pilih layanan" in await user.says("1")
    days = await user.says("1")
    assert "Pilih tanggal" in days and "sisa" in days
    assert "Pilih jam" in await user.says("1")
    held = await user.says("1")
    assert "ditahan" in held and "NIK" in held
    assert "nama lengkap" in await user.says(NIK_MAN)
    summary = await user.says("budi santoso")
    assert "Budi Santoso" in summary and "************0001" in summary
    assert NIK_MAN not in summary
    done = await user.say("1")
    assert "A-001" in "".join(str(getattr(m, "text", "")) for m in done)
    assert any(isinstance(m, Image) and m.data.startswith(b"\x89PNG") for m in done)
    app = user.engine.deps
    [booking] = await app.seats.active_for_account("console:1001")
    assert booking.queue_number == "A-001" and booking.name == "Budi Santoso"
    code = app.codes.code(app.office.id, booking.id, booking.nik_hash)
    assert code in "".join(str(getattr(m, "text", "")) for m in done)
    assert app.codes.verify(code, app.office.id, app.niks.hash(NIK_MAN))
    # No NIK in clear anywhere in Redis.
    for key in await redis.keys("*"):
        dump = await redis.dump(key)
        assert dump is None or NIK_MAN.encode() not in dump


async def test_bad_niks_are_explained_and_asked_again(user: User) -> None:
    await user.says("halo")
    for answer in ("1", "1", "1", "1"):
        await user.says(answer)
    reply = await user.says("12345")
    assert "16 angka" in reply and "5 angka" in reply and "Ketik NIK" in reply
    assert "provinsi" in await user.says("0071011508850001")
    assert "tanggal lahir" in (await user.says("3171013202850001")).lower()
    assert "0000" in await user.says("3171011508850000")
    assert "nama lengkap" in await user.says("3171 0115 0885 0001")


async def test_names_that_are_not_names_are_refused(user: User) -> None:
    await user.says("halo")
    for answer in ("1", "1", "1", "1", NIK_WOMAN):
        await user.says(answer)
    assert "huruf" in await user.says("😀😀😀")
    assert "kosong" in await user.says("\u200b\u200b")
    assert "huruf" in await user.says("12345")
    assert "Periksa" in (await user.says("Siti Nur'aini")).title()


async def test_stale_buttons_empty_and_huge_text_get_clear_replies(user: User) -> None:
    await user.says("halo")
    await user.says("1")
    assert "tidak berlaku" in await user.says(option="some-old-button")
    assert "1 sampai" in await user.says("banana")
    assert "terlalu panjang" in await user.says("x" * 5000)
    assert "kosong" in await user.says("\x00\x01")
    assert "Pilih layanan" in user.last_choices().text


async def test_global_words_work_everywhere(user: User) -> None:
    await user.says("halo")
    await user.says("1")
    await user.says("1")
    assert "bantuan" in (await user.says("bantuan")).lower()
    assert "Choose a language" in await user.says("language")
    assert "English" in await user.says("2")
    assert "What would you like" in await user.says("/menu")
    await user.says("1")
    await user.says("1")
    await user.says("1")
    await user.says("1")  # holds a seat
    app = user.engine.deps
    assert "Cancelled" in await user.says("cancel")
    # The held seat was given back.
    day = app.office.bookable_days(app.clock.now())[0]
    service = app.office.services[0].id
    [windows] = await app.seats.availability(
        [(day, service, {w.id: w.capacity(service) for w in app.office.windows(day)})]
    )
    assert all(a.held == 0 for a in windows.values())


async def test_language_choice_is_remembered_after_the_session_expires(
    user: User, clock: ManualClock
) -> None:
    await user.says("halo")
    await user.says("bahasa")
    await user.says("English")
    clock.advance(timedelta(hours=3))
    reply = await user.says("hello")
    assert "idle" in reply and "What would you like" in reply


async def test_my_booking_show_cancel_and_book_again(user: User) -> None:
    await book(user)
    assert "Antrean saya" in await user.says("menu")
    details = await user.says("2")
    assert "A-001" in details and "Budi Santoso" in details
    shown = await user.say("1")
    assert any(isinstance(m, Image) for m in shown)
    await user.says("2")
    await user.says("2")  # cancel
    assert "Yakin" in user.last_choices().text
    assert "dibatalkan" in await user.says("1")
    assert "tidak memiliki" in await user.says("2")
    # The NIK and the seat are free again: the same person books again and gets the next number.
    done = await book(user)
    assert "A-002" in done


async def test_one_nik_one_booking_across_accounts(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    engine, recorder = make_engine(make_app(redis, clock, tmp_path))
    first, second = User(engine, recorder, "a"), User(engine, recorder, "b")
    # The second account typed the NIK before the first one confirmed: confirming checks again.
    for answer in ("halo", "1", "1", "1", "1", NIK_MAN):
        await second.says(answer)
    assert "A-001" in await book(first)
    await second.says("budi santoso")
    assert "sudah memiliki antrean aktif" in await second.says("1")


async def test_account_limit(user: User) -> None:
    await book(user)
    await user.says("menu")
    assert "batas" in await user.says("1")


async def test_the_account_limit_without_the_hint_is_told_at_the_window(
    user: User, clock: ManualClock
) -> None:
    """Booked outside this chat (or the session was lost): the book turn skips the read, and the
    hold refuses at the window with the same message."""
    app = user.engine.deps
    await confirm_booking(app, "console:1001", app.niks.hash(NIK_WOMAN), day_index=1)
    await user.says("halo")
    assert "Pilih layanan" in await user.says("1")
    await user.says("1")
    await user.says("1")
    refused = await user.says("1")
    assert "batas" in refused and "Apa yang ingin" in refused
    # Now noted: the next attempt is told at once.
    await user.says("menu")
    assert "batas" in await user.says("1")


async def test_a_stale_booking_hint_refuses_nobody(user: User, clock: ManualClock) -> None:
    await book(user)
    app = user.engine.deps
    [booking] = await app.seats.active_for_account("console:1001")
    await app.desk.close_day(booking.day, "banjir", by="console:staff")  # staff cancel it
    await user.says("menu")
    assert "Pilih layanan" in await user.says("1")  # checked, not refused; the hint is gone
    session = await app.sessions.redis.get(SessionKeys("console:1001").session)
    assert "booked" not in Session.loads("console:1001", session, now_ms=0, idle_ms=10**15).memo


async def test_booking_reads_the_bookings_only_of_who_was_seen_with_one(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    engine, recorder = make_engine(make_app(client, clock, tmp_path))
    warm = User(engine, recorder, "warm")  # loads the scripts, as a running process has them
    await book(warm, NIK_WOMAN)
    await warm.says("menu")
    await warm.says("1")
    user = User(engine, recorder)
    await user.says("halo")
    for answer, trips in (("1", 2), ("1", 3), ("1", 3), ("1", 3), (NIK_MAN, 2), ("budi", 2)):
        client.round_trips = 0
        await user.says(answer)  # book, service, day, window, NIK, name
        assert client.round_trips == trips, answer
    client.round_trips = 0
    assert "A-002" in await user.says("1")
    assert client.round_trips == 4  # begin, NIK claim (and block), confirm, save
    await user.says("menu")
    client.round_trips = 0
    assert "batas" in await user.says("1")  # booked: read, and told at once
    assert client.round_trips == 3
    await client.aclose()


async def test_reschedule_once(user: User, clock: ManualClock) -> None:
    await book(user)
    await user.says("menu")
    await user.says("2")
    actions = user.last_choices()
    assert [o.id for o in actions.options] == ["code", "cancel", "move", "menu"]
    assert "tanggal baru" in await user.says("3")
    await user.says("2")  # second day
    await user.says("1")
    moved = await user.says("1")
    assert "Nomor antrean baru" in moved and "A-001" in moved
    app = user.engine.deps
    [booking] = await app.seats.active_for_account("console:1001")
    assert booking.rescheduled and booking.day == app.office.bookable_days(clock.now())[1]
    await user.says("menu")
    await user.says("2")
    assert "move" not in [o.id for o in user.last_choices().options]


async def test_cancel_cutoff(user: User, clock: ManualClock) -> None:
    await book(user)
    app = user.engine.deps
    [booking] = await app.seats.active_for_account("console:1001")
    start = app.office.window_start(booking.day, booking.window)
    clock.set(start - timedelta(minutes=30))
    await user.says("menu")
    await user.says("2")
    assert "jam sebelum" in await user.says("2")


async def test_a_day_that_closed_meanwhile(user: User) -> None:
    await user.says("halo")
    await user.says("1")
    await user.says("1")
    choices = user.last_choices()
    assert isinstance(choices, Choices)
    day = date.fromisoformat(choices.options[0].id)
    await user.engine.deps.seats.close_day(day)
    reply = await user.says("1")
    assert "tidak tersedia" in reply or "penuh" in reply
    assert day.isoformat() not in [o.id for o in user.last_choices().options]


async def test_a_turn_cut_short_and_run_again_holds_one_seat_not_two(
    user: User, clock: ManualClock
) -> None:
    """Regression: a turn that held a seat but could not save (Redis outage, crash) ran again on
    redelivery with a new random hold id, leaking the first hold until it expired."""
    from bot.core.clock import ms
    from bot.core.messages import Inbound
    from bot.core.sessions import Session

    for text in ("halo", "1", "1", "1"):
        await user.says(text)  # at the window step
    engine, app = user.engine, user.engine.deps
    window = user.last_choices().options[0].id
    tap = Inbound("console", user.user_id, "tap-1", option=window)
    turn = await app.sessions.begin(tap, ms(clock.now()))
    assert turn.status == "run" and turn.inbound is not None
    for _ in range(2):  # the first run never saves; the redelivery runs from the same state
        session = Session.loads(
            tap.identity, turn.raw_session, now_ms=ms(clock.now()), idle_ms=10**9
        )
        await engine._run_turn(session, turn.inbound)
    day = date.fromisoformat(session.data["day"])
    service = session.data["svc"]
    [windows] = await app.seats.availability(
        [(day, service, {w.id: w.capacity(service) for w in app.office.windows(day)})]
    )
    assert windows[window].held == 1


async def test_a_booking_typed_the_way_people_type(user: User) -> None:
    await user.says("halo")
    assert "Pilih layanan" in await user.says("ambil")
    assert "Pilih tanggal" in await user.says("paspor baru")
    assert "Rab, 6 Mar 2030" in await user.says("Rabu")
    assert "ditahan" in await user.says("10:00-12:00")
    await user.says(NIK_MAN)
    summary = await user.says("budi santoso")
    assert "10:00\u201312:00" in summary and "Rab, 6 Mar 2030" in summary
    # The 10:00 window numbers after the 08:00 window's block (capacity 40: 1-50).
    assert "A-051" in await user.says("ya")


async def test_a_refusal_quotes_the_answer_and_repeats_only_a_short_list(user: User) -> None:
    for answer in ("halo", "1", "1"):
        await user.says(answer)
    # Nine days on offer: the refusal quotes what it did not understand, shortened, and points
    # at the list above instead of sending it again.
    refused = await user.say("kapan saja boleh, yang penting pagi hari ya")
    [text] = [m.text for m in refused if isinstance(m, Text)]
    assert "“kapan saja boleh, yang pentin…”" in text and "di atas" in text
    assert not any(isinstance(m, Choices) for m in refused)
    await user.says("6 mar")
    # Three windows: the list comes again.
    refused = await user.say("sore")
    assert "“sore”" in text_of(refused[0]) and isinstance(refused[-1], Choices)
    assert len(refused[-1].options) == 3


@pytest.mark.parametrize("digit", ["\U00010a40", "\u0661"])
async def test_other_scripts_digits_at_every_choice_step_are_refused_not_a_crash(
    user: User, digit: str
) -> None:
    """Issue #12: U+10A40 passes str.isdigit() but not int(): it reset the session and released
    the held seat."""
    await user.says("halo")
    for answer in ("1", "1", "1", "1"):  # menu, service, day, window
        assert "tidak ada di pilihan" in await user.says(digit)
        await user.says(answer)
    await user.says(NIK_MAN)
    await user.says("budi santoso")
    reply = await user.says(digit)
    assert "tidak ada di pilihan" in reply and "Konfirmasi" in reply
    assert "A-001" in await user.says("1")


async def test_changing_the_language_mid_booking_keeps_the_step_and_the_held_seat(
    user: User,
) -> None:
    for answer in ("halo", "1", "1", "1", "1"):
        await user.says(answer)
    assert "Pilih bahasa" in await user.says("bahasa")
    reply = await user.says("English")
    assert "Language set to English" in reply and "Type your NIK" in reply
    await user.says(NIK_MAN)
    assert "Please check" in await user.says("budi santoso")
    # Again at the summary: the same summary comes back in the other language.
    await user.says("language")
    assert "Mohon periksa" in await user.says("Bahasa Indonesia")
    assert "A-001" in await user.says("ya")
    app = user.engine.deps
    day = app.office.bookable_days(app.clock.now())[0]
    windows = app.office.windows(day)
    [seats] = await app.seats.availability(
        [(day, "paspor-baru", {w.id: w.capacity("paspor-baru") for w in windows})]
    )
    first = seats[windows[0].id]
    assert (first.booked, first.held) == (1, 0)


async def test_a_nik_with_a_booking_elsewhere_is_refused_at_confirm_with_what_to_do(
    user: User,
) -> None:
    assert "A-001" in await book(user)
    other = User(user.engine, user.recorder, "1002")
    for answer in ("halo", "1", "1", "1", "1", NIK_MAN, "siti aminah"):
        await other.says(answer)
    refused = await other.says("1")
    assert "akun lain" in refused and "e-KTP asli" in refused and "Antrean saya" in refused
    assert "Ketik NIK" in refused and NIK_MAN not in refused
    # The held seat went back at once (a refused NIK is mostly a scalper's second try); the
    # name is kept: another NIK goes straight to the summary, and confirming takes a free seat.
    app = user.engine.deps
    day = app.office.bookable_days(app.clock.now())[0]
    windows = app.office.windows(day)
    [seats] = await app.seats.availability(
        [(day, "paspor-baru", {w.id: w.capacity("paspor-baru") for w in windows})]
    )
    assert (seats[windows[0].id].booked, seats[windows[0].id].held) == (1, 0)
    summary = await other.says(NIK_WOMAN)
    assert "Siti Aminah" in summary and "************0002" in summary
    assert "A-002" in await other.says("1")
    entries = await user.engine.deps.redis.xrange(StaffKeys(user.engine.deps.office.id).audit)
    refusals = [e for _, e in entries if e.get("result") == "refused"]
    assert [(e["actor"], e["reason"]) for e in refusals] == [
        (applicant("console:1002"), "nik_elsewhere")
    ]


async def test_the_summary_states_the_cut_offs(user: User, clock: ManualClock) -> None:
    for answer in ("halo", "1", "1", "1", "1", NIK_MAN):
        await user.says(answer)
    summary = await user.says("budi santoso")
    assert "pindah jadwal (sekali) bisa sampai 24 jam" in summary
    assert "pembatalan sampai 2 jam" in summary
    await user.says("menu")
    # Tuesday 09:00: Wednesday's 08:00 window is 23 hours away, too close to reschedule.
    clock.advance(timedelta(hours=25))
    for answer in ("menu", "1", "1", "1", "1", NIK_MAN):
        await user.says(answer)
    summary = await user.says("budi santoso")
    assert "kurang dari 24 jam lagi, jadi tidak bisa dipindah" in summary
    assert "pembatalan bisa sampai 2 jam" in summary


async def test_a_refused_reschedule_offers_cancelling_and_booking_again(
    user: User, clock: ManualClock
) -> None:
    await book(user)  # Wednesday 6 March, 08:00
    clock.advance(timedelta(hours=26))  # Tuesday 10:00
    await user.says("menu")
    await user.says("2")
    refused = await user.says("pindah")
    assert "24 jam" in refused and "membatalkan antrean ini" in refused
    assert "Batalkan antrean" in refused  # the booking's actions, cancel first among them
    clock.advance(timedelta(hours=21))  # Wednesday 07:00
    await user.says("menu")
    await user.says("2")
    assert "keduanya sudah lewat" in await user.says("pindah")


async def test_an_answer_that_fits_several_options_names_them(user: User) -> None:
    await user.says("halo")
    await user.says("1")
    refused = await user.says("paspor")
    assert "“paspor” cocok dengan lebih dari satu pilihan (Paspor baru, Paspor hilang" in refused
    assert "Pilih layanan" in refused  # three options: the list comes again
    assert "Pilih tanggal" in await user.says("paspor b")
    assert "Pilih jam" in await user.says("lusa")  # Wednesday 6 March


async def test_a_nik_already_booked_from_the_same_account_points_to_my_booking(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    demo = (Path(__file__).parents[2] / "bot" / "booking" / "demo" / "office.toml").read_text()
    office = tmp_path / "office.toml"
    office.write_text(demo.replace("max_active_per_account = 1", "max_active_per_account = 2"))
    engine, recorder = make_engine(make_app(redis, clock, tmp_path, office_config=office))
    user = User(engine, recorder)
    assert "A-001" in await book(user)
    for answer in ("menu", "1", "1", "1", "1", NIK_MAN, "budi santoso"):
        await user.says(answer)
    refused = await user.says("1")
    assert "Anda sudah memiliki antrean aktif dengan NIK ini" in refused
    assert "akun lain" not in refused and "Ketik NIK" in refused
