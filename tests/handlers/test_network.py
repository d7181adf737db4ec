"""A network of offices on one bot (issue #14): choosing the office by name, by region and by a
shared location on every channel, each office on its own clock, one NIK across the network, staff
scoped to their office. Three offices in two time zones, real Redis, the platforms' fakes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.errors import AccountLimit
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.core.messages import Image, Location
from bot.errors import ConfigError
from bot.infra.embedded import RedisServer
from tests.channels.drivers.telegram import TelegramDriver, location_update, open_channel
from tests.channels.drivers.whatsapp import open_driver as open_whatsapp
from tests.counting import CountingRedis
from tests.fake_graph import envelope, wamid
from tests.networks import write_offices
from tests.support import NIK_MAN, NIK_WOMAN, User, hold_and_book, make_app, make_engine

DEMO = Path(__file__).parents[2] / "bot" / "booking" / "demo" / "office.toml"
# (id, name, timezone, region, city, (lat, lon), aliases)
OFFICES = [
    ("kanim-jakpus", "Kantor Imigrasi Jakarta Pusat", "Asia/Jakarta", "DKI Jakarta",
     "Jakarta Pusat", (-6.1560, 106.8478), ["Kanim Jakpus", "Kemayoran"]),
    ("kanim-jaksel", "Kantor Imigrasi Jakarta Selatan", "Asia/Jakarta", "DKI Jakarta",
     "Jakarta Selatan", (-6.2615, 106.8106), []),
    ("kanim-makassar", "Kantor Imigrasi Makassar", "Asia/Makassar", "Sulawesi Selatan",
     "Makassar", (-5.1477, 119.4327), []),
]  # fmt: skip
STAFF = "console:9001=officer@kanim-jaksel,console:9002=admin@*,console:9003=officer@kanim-jakpus"


def network_folder(tmp_path: Path) -> Path:
    """Three office files made from the demo office's, differing in who and where they are."""
    demo = DEMO.read_text()
    folder = tmp_path / "offices"
    folder.mkdir()
    for office_id, name, zone, region, city, (lat, lon), aliases in OFFICES:
        text = re.sub(r'(?m)^id = "kanim-jakpus"$', f'id = "{office_id}"', demo, count=1)
        for key, value in (
            ("name", f'"{name}"'),
            ("timezone", f'"{zone}"'),
            ("region", f'"{region}"'),
            ("city", f'"{city}"'),
            ("location", f"{{ lat = {lat}, lon = {lon} }}"),
            ("aliases", "[" + ", ".join(f'"{a}"' for a in aliases) + "]"),
        ):
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        (folder / f"{office_id}.toml").write_text(text)
    return folder


@pytest.fixture
def offices(tmp_path: Path) -> Path:
    return network_folder(tmp_path)


@pytest.fixture
def app(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, offices: Path) -> App:
    return make_app(redis, clock, tmp_path, offices=offices, staff=STAFF)


def titles(user: User) -> list[str]:
    return [o.title for o in user.last_choices().options]


async def to_office_question(user: User) -> str:
    await user.says("halo")
    return await user.says("1")  # book


async def test_one_office_is_a_network_of_one(app: App) -> None:
    assert len(app.network) == 3 and set(app.offices) == {o[0] for o in OFFICES}
    # The shared services are one; each office has its own.
    assert app.at("kanim-jaksel").seats is not app.at("kanim-makassar").seats
    assert app.at("kanim-jaksel").office.timezone == "Asia/Jakarta"


async def test_choosing_by_typed_name_then_booking(app: App, redis: aioredis.Redis) -> None:
    user = User(*make_engine(app))
    asked = await to_office_question(user)
    assert "kantor mana" in asked.lower()
    assert "Pilih layanan" in await user.says("jaksel")
    assert (await user.says("1")).count("sisa")  # days
    window = await user.says("1")
    assert "WIB" in window  # the office's zone, in a network
    await user.says("1")
    await user.says(NIK_MAN)
    summary = await user.says("Budi Santoso")
    assert "WIB" in summary
    done = await user.say("1")
    assert any(isinstance(m, Image) for m in done)
    [where] = [m for m in done if isinstance(m, Location)]
    assert where.name == "Kantor Imigrasi Jakarta Selatan" and where.lat == pytest.approx(-6.2615)
    [booking] = await app.at("kanim-jaksel").seats.active_for_account("console:1001")
    assert await app.at("kanim-jakpus").seats.active_for_account("console:1001") == []
    # "My booking" finds it, in its office, without asking which.
    mine = await user.says("menu") and await user.says("2")
    assert booking.queue_number in mine and "WIB" in mine
    # The last office used is offered first next time.
    await user.says("menu")
    await user.says("1")
    first = user.last_choices().options[0]
    assert first.title == "Kantor Imigrasi Jakarta Selatan" and first.id == "o:kanim-jaksel"


async def test_a_misspelled_name_gets_a_did_you_mean(app: App) -> None:
    user = User(*make_engine(app))
    await to_office_question(user)
    reply = await user.says("makasar")
    assert "makassar" in reply.lower() and "maksud" in reply.lower()
    # Several matches: pick from them.
    reply = await user.says("jakarta")
    assert "Pilih kantor" in reply
    assert set(titles(user)) == {"Kantor Imigrasi Jakarta Pusat", "Kantor Imigrasi Jakarta Selatan"}
    assert "Pilih layanan" in await user.says("2")


async def test_choosing_by_region_then_city(app: App) -> None:
    user = User(*make_engine(app))
    await to_office_question(user)
    assert titles(user) == ["Cari menurut provinsi"]
    await user.says("1")
    assert titles(user) == ["DKI Jakarta", "Sulawesi Selatan"]
    await user.says("1")
    assert titles(user) == ["Jakarta Pusat", "Jakarta Selatan"]
    assert "Pilih layanan" in await user.says("2")
    # A region of one city goes straight to its offices (here: one, chosen).
    await user.says("menu")
    await user.says("1")
    await user.says("Cari menurut provinsi")
    assert "Pilih layanan" in await user.says("Sulawesi Selatan")


async def test_a_requirements_list_is_per_office(app: App) -> None:
    user = User(*make_engine(app))
    await user.says("halo")
    assert "kantor mana" in (await user.says("3")).lower()  # requirements: which office first
    await user.says("makassar")
    assert "Paspor baru" in titles(user)
    assert "e-KTP" in await user.says("1")


@pytest.fixture
async def telegram(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, offices: Path
) -> AsyncIterator[TelegramDriver]:
    import aiohttp

    async with (
        open_channel(redis, clock, tmp_path, offices=offices) as (fake, _, channel, base),
        aiohttp.ClientSession() as http,
    ):
        yield TelegramDriver(fake, http, base, channel)


async def test_a_telegram_location_gives_the_three_nearest(telegram: TelegramDriver) -> None:
    await telegram.type("halo")
    seen = await telegram.choose(1)
    assert "lokasi" in seen.all_text and seen.location_asked
    # A one-time reply keyboard with one button that sends the location.
    [asked] = [c for c in telegram.fake.of("sendMessage") if "request_location" in str(c.params)]
    markup = asked.params["reply_markup"]
    assert markup["one_time_keyboard"] is True and markup["resize_keyboard"] is True
    [[button]] = markup["keyboard"]
    assert button["request_location"] is True and button["text"] == "📍 Bagikan lokasi saya"
    # Near Blok M, South Jakarta.
    seen = await telegram.deliver(location_update(-6.2440, 106.8000))
    names = [
        "Kantor Imigrasi Jakarta Selatan",
        "Kantor Imigrasi Jakarta Pusat",
        "Kantor Imigrasi Makassar",
    ]
    assert len(seen.options) == 3
    for shown, name in zip(seen.options, names, strict=True):
        assert shown.startswith(name) and " km" in shown
    assert "km" in " ".join(
        str(c.params.get("reply_markup", "")) + str(c.params.get("text", ""))
        for c in telegram.fake.calls[-2:]
    )
    seen = await telegram.choose(1)
    assert "Paspor baru" in seen.options
    # The venue of the confirmation is rendered as sendVenue.
    for _ in range(3):
        seen = await telegram.choose(1)
    await telegram.type(NIK_MAN)
    await telegram.type("Budi Santoso")
    await telegram.choose(1)
    [venue] = telegram.fake.of("sendVenue")
    assert venue.params["title"] == "Kantor Imigrasi Jakarta Selatan"
    assert float(venue.params["latitude"]) == pytest.approx(-6.2615)
    # Used, the one-time keyboard hid itself: nothing had to take it back.
    assert not removals(telegram)


def removals(telegram: TelegramDriver) -> list[str]:
    """The texts of the messages that took the location request's reply keyboard back."""
    return [
        c.params["text"]
        for c in telegram.fake.of("sendMessage")
        if c.params.get("reply_markup") == {"remove_keyboard": True}
    ]


async def test_an_office_typed_instead_takes_the_location_keyboard_back_at_the_next_text(
    telegram: TelegramDriver,
) -> None:
    """A reply keyboard stays on screen until a message replaces it. The office typed (or tapped)
    instead of shared, the turns of buttons after it leave it; the first text, the NIK question,
    where the applicant needs their own keyboard, takes it back, and only that one."""
    await telegram.type("halo")
    assert (await telegram.choose(1)).location_asked
    await telegram.type("makassar")
    for _ in range(3):  # service, day, window
        await telegram.choose(1)
    [nik_question] = removals(telegram)
    assert "NIK" in nik_question
    await telegram.type(NIK_MAN)
    await telegram.type("Budi Santoso")
    await telegram.choose(1)
    assert len(removals(telegram)) == 1


async def test_a_location_where_none_is_asked_is_answered_like_a_sticker(
    telegram: TelegramDriver,
) -> None:
    await telegram.type("halo")
    seen = await telegram.deliver(location_update(-6.2, 106.8))
    assert seen.all_text  # answered, not an error


async def test_a_whatsapp_location_gives_the_three_nearest(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, offices: Path
) -> None:
    async with open_whatsapp(redis, clock, tmp_path, offices=offices) as driver:
        await driver.type("halo")
        await driver.choose(1)
        before = len(driver.fake.to(driver.wa_id))
        shared = {
            "from": driver.wa_id,
            "id": wamid(),
            "timestamp": "1700000000",
            "type": "location",
            "location": {
                "latitude": -5.1400,
                "longitude": 119.4200,
                "name": "Pantai Losari",
                "address": "Makassar",
            },
        }
        response = await driver.post(envelope([shared]))
        assert response.status_code == 200
        sent = driver.fake.to(driver.wa_id)[before:]
        rows = [
            row
            for m in sent
            if m.get("type") == "interactive"
            for section in m["interactive"]["action"].get("sections", [])
            for row in section["rows"]
        ]
        buttons = [
            b["reply"]
            for m in sent
            if m.get("type") == "interactive"
            for b in m["interactive"]["action"].get("buttons", [])
        ]
        shown = [r["title"] for r in rows] + [b["title"] for b in buttons]
        assert shown and shown[0].startswith("Kantor Imigrasi Makassar"[: len(shown[0])])
        descriptions = " ".join(r.get("description", "") for r in rows)
        body = " ".join(str(m) for m in sent)
        assert "km" in descriptions or "km" in body


async def test_each_office_on_its_own_clock(app: App, clock: ManualClock) -> None:
    # 06:30 WIB is 07:30 WITA: Makassar's 07:00 release has passed, Jakarta's has not.
    clock.set(datetime(2030, 3, 4, 23, 30, tzinfo=UTC))
    jakarta, makassar = app.at("kanim-jaksel").office, app.at("kanim-makassar").office
    now = clock.now()
    assert max(makassar.bookable_days(now)) > max(jakarta.bookable_days(now))
    user = User(*make_engine(app), user_id="2001")
    await to_office_question(user)
    await user.says("makassar")
    await user.says("1")  # service
    makassar_days = {o.id for o in user.last_choices().options}
    other = User(*make_engine(app), user_id="2002")
    await to_office_question(other)
    await other.says("jaksel")
    await other.says("1")
    jakarta_days = {o.id for o in other.last_choices().options if not o.id.startswith("pre:")}
    newest = max(makassar.bookable_days(now)).isoformat()
    assert newest in makassar_days and newest not in jakarta_days


async def test_one_nik_in_two_offices_at_once_exactly_one_wins(app: App) -> None:
    first, second = User(*make_engine(app), "3001"), User(*make_engine(app), "3002")
    for user, name in ((first, "jaksel"), (second, "makassar")):
        await to_office_question(user)
        await user.says(name)
        for _ in range(3):
            await user.says("1")
        await user.says(NIK_MAN)
        await user.says("Budi Santoso")
    replies = await asyncio.gather(first.say("1"), second.say("1"))
    won = [r for r in replies if any(isinstance(m, Image) for m in r)]
    assert len(won) == 1
    jaksel = await app.at("kanim-jaksel").seats.active_for_account("console:3001")
    makassar = await app.at("kanim-makassar").seats.active_for_account("console:3002")
    assert len(jaksel) + len(makassar) == 1


async def test_staff_of_one_office_are_refused_another_offices_bookings(app: App) -> None:
    applicant = User(*make_engine(app), "4001")
    await to_office_question(applicant)
    await applicant.says("jaksel")
    for _ in range(3):
        await applicant.says("1")
    await applicant.says(NIK_MAN)
    await applicant.says("Budi Santoso")
    done = await applicant.says("1")
    [booking] = await app.at("kanim-jaksel").seats.active_for_account("console:4001")
    code = app.codes.code("kanim-jaksel", booking.id, booking.nik_hash)
    assert code in done
    jakpus_officer = User(*make_engine(app), "9003")
    await jakpus_officer.says("halo")
    refused = await jakpus_officer.says(f"/checkin {code}")
    # Not found at the officer's office: nothing about the booking is shown.
    assert booking.name not in refused and "Mar 2030" not in refused
    assert (await app.at("kanim-jaksel").seats.get(booking.id)).status == "active"  # type: ignore[union-attr]
    # Naming another office is refused too.
    assert "Jakarta Pusat" in await jakpus_officer.says("/stats @kanim-jaksel")
    # The office's own officer finds it (it is for another day: not to be served today).
    jaksel_officer = User(*make_engine(app), "9001")
    await jaksel_officer.says("halo")
    assert "bukan hari ini" in await jaksel_officer.says(f"/checkin {code}")
    # An admin of every office names the office.
    admin = User(*make_engine(app), "9002")
    await admin.says("halo")
    assert "@" in await admin.says("/stats")
    assert "Kantor Imigrasi Makassar" not in await admin.says("/stats @kanim-makassar")
    assert "Tidak ada kantor" in await admin.says("/stats @kanim-nowhere")


def test_both_office_settings_are_a_clear_error(tmp_path: Path, offices: Path) -> None:
    from bot.errors import ConfigError
    from bot.infra.settings import load_settings

    with pytest.raises(ConfigError, match=r"ANTREAN_OFFICES .* ANTREAN_OFFICE_CONFIG"):
        load_settings(offices=offices, office_config=DEMO, var_dir=tmp_path)


def test_a_staff_entry_naming_no_office_of_the_network_is_refused(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, offices: Path
) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="kanim-nowhere"):
        make_app(redis, clock, tmp_path, offices=offices, staff="console:1=officer@kanim-nowhere")


def test_150_offices_start_quickly_without_redis(clock: ManualClock, tmp_path: Path) -> None:
    import time

    from redis.asyncio import Redis

    folder = tmp_path / "many"
    folder.mkdir()
    write_offices(folder, 150)
    # A client of a port nobody listens on: building the app must not talk to Redis.
    nowhere = Redis(port=1)
    started = time.perf_counter()
    app = make_app(nowhere, clock, tmp_path, offices=folder)
    took = time.perf_counter() - started
    assert len(app.offices) == 150
    assert took < 2.0, took


async def test_one_account_in_two_offices_at_once_exactly_one_wins(app: App) -> None:
    # The cap (1) holds across the network: two offices confirm for one account at once.
    account = "console:5001"
    outcomes = await asyncio.gather(
        hold_and_book(app, "kanim-jaksel", account, NIK_MAN),
        hold_and_book(app, "kanim-makassar", account, NIK_WOMAN),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Booking)]
    lost = [o for o in outcomes if not isinstance(o, Booking)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], AccountLimit)
    jaksel = await app.at("kanim-jaksel").seats.active_for_account(account)
    makassar = await app.at("kanim-makassar").seats.active_for_account(account)
    assert len(jaksel) + len(makassar) == 1
    # The loser's NIK claim was given back: that NIK may book (for another account).
    loser_nik = NIK_WOMAN if won[0].nik_hash == app.niks.hash(NIK_MAN) else NIK_MAN
    assert await app.nik_registry.holder(app.niks.hash(loser_nik)) is None
    assert app.account_claims is not None
    assert await app.account_claims.holders(account) == [(won[0].office, won[0].id)]
    # Cancelling frees the account's place: it may book at the other office now.
    await app.at(won[0].office).desk.cancel(won[0].id, account=account)
    assert await app.account_claims.holders(account) == []
    other = "kanim-jaksel" if won[0].office == "kanim-makassar" else "kanim-makassar"
    again = await hold_and_book(app, other, account, NIK_MAN)
    assert again.office == other


async def test_a_stale_account_claim_does_not_lock_the_account_out(
    app: App, clock: ManualClock
) -> None:
    account = "console:5002"
    assert app.account_claims is not None
    day = app.at("kanim-jaksel").office.bookable_days(clock.now())[0]
    # A process died between claim and confirm: its claim names a booking that never came.
    assert await app.account_claims.try_claim(account, "kanim-jakpus", "ghost", day, 1) is None
    with pytest.raises(AccountLimit):
        await hold_and_book(app, "kanim-jaksel", account, NIK_MAN)
    clock.advance(16 * 60)  # past the grace of a booking under way
    booking = await hold_and_book(app, "kanim-jaksel", account, NIK_MAN)
    assert await app.account_claims.holders(account) == [("kanim-jaksel", booking.id)]


async def test_my_booking_is_found_without_the_memo(app: App) -> None:
    # Booked for the applicant straight through the desk: no memo names the office.
    booking = await hold_and_book(app, "kanim-makassar", "console:5003", NIK_MAN)
    user = User(*make_engine(app), "5003")
    await user.says("halo")
    mine = await user.says("2")
    assert booking.queue_number in mine


async def test_a_network_of_one_takes_no_account_claim(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path)
    assert app.account_claims is None and app.desk.accounts is None


async def test_broadcast_audiences_take_an_office(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, offices: Path
) -> None:
    from workers.broadcasts import find_audience

    staff = STAFF + ",console:9004=admin@kanim-jaksel"
    app = make_app(redis, clock, tmp_path, offices=offices, staff=staff)
    await hold_and_book(app, "kanim-jaksel", "console:6001", NIK_MAN)
    await hold_and_book(app, "kanim-makassar", "console:6002", NIK_WOMAN)
    # The audience names its office, or every office; a network needs one named.
    assert {r.account for r in await find_audience(app, "@kanim-jaksel active")} == {"console:6001"}
    everyone = await find_audience(app, "@* active")
    assert {(r.account, r.office) for r in everyone} == {
        ("console:6001", "kanim-jaksel"),
        ("console:6002", "kanim-makassar"),
    }
    with pytest.raises(ConfigError):
        await find_audience(app, "active")
    with pytest.raises(ConfigError):
        await find_audience(app, "@kanim-nowhere active")
    # An admin of one office broadcasts to that office's applicants only.
    local_admin = User(*make_engine(app), "9004")
    await local_admin.says("halo")
    assert "1 pemohon" in await local_admin.says("/broadcast active")
    await local_admin.says("menu")
    assert "hanya untuk kantor itu" in await local_admin.says("/broadcast @* active")
    # An admin of every office names one, or every office; the preview counts per office.
    admin = User(*make_engine(app), "9002")
    await admin.says("halo")
    assert "Sebutkan kantornya" in await admin.says("/broadcast active")
    assert "Tidak ada kantor" in await admin.says("/broadcast @kanim-nowhere active")
    assert "2 pemohon" in await admin.says("/broadcast @* active")
    await admin.says("Kantor tutup besok.")
    preview = await admin.says("-")
    assert "Per kantor: Kantor Imigrasi Jakarta Selatan 1, Kantor Imigrasi Makassar 1" in preview
    assert "@* active" in preview
    await admin.says("menu")
    assert "1 pemohon" in await admin.says("/broadcast @kanim-makassar active")


async def test_an_account_at_the_cap_is_told_before_choosing_a_day_at_another_office(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path, offices: Path
) -> None:
    """The book turn's early check counts the account's bookings across the network (its
    claims and the offices the memo names), not only the chosen office's: at the cap, the
    applicant hears so on choosing the office, for one round trip more than a network of one
    (tests/handlers/test_booking.py: begin, read, save)."""
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    app = make_app(client, clock, tmp_path, offices=offices, staff=STAFF)
    user = User(*make_engine(app), user_id="6001")
    await to_office_question(user)
    await user.says("jaksel")
    for _ in range(3):
        await user.says("1")
    await user.says(NIK_MAN)
    await user.says("Budi Santoso")
    assert any(isinstance(m, Image) for m in await user.say("1"))
    await user.says("menu")
    await user.says("1")  # book: which office?
    await app.seats.active_for_account("warm")  # the script loaded, as a running process has it
    client.round_trips = 0
    told = await user.says("makassar")
    assert "batas" in told and "Pilih layanan" not in told
    assert client.round_trips == 4  # begin, the account's claims, jaksel's bookings, save
    # Cancelled at Jakarta Selatan: Makassar offers its services again.
    [booking] = await app.at("kanim-jaksel").seats.active_for_account("console:6001")
    await app.at("kanim-jaksel").desk.cancel(booking.id, account="console:6001")
    await user.says("1")
    assert "Pilih layanan" in await user.says("makassar")
    await client.aclose()


async def test_bookings_from_before_account_claims_get_theirs_at_the_day_end(
    app: App, redis: aioredis.Redis
) -> None:
    """A one-off backfill at each office's first day-end run: its active bookings without their
    account's claim (made before claims existed) get one, so the cap across the network counts
    them; a claim there is kept, cancelled bookings get none, and later runs read nothing."""
    from datetime import timedelta

    from bot.infra.keys import AccountKeys
    from workers.dayend import dayend_core

    assert app.account_claims is not None
    old, kept, gone = "console:9101", "console:9102", "console:9103"
    made = await hold_and_book(app, "kanim-jaksel", old, NIK_MAN)
    has = await hold_and_book(app, "kanim-jaksel", kept, NIK_WOMAN)
    cancelled = await hold_and_book(app, "kanim-jaksel", gone, "3171015001900003")
    await app.at("kanim-jaksel").desk.cancel(cancelled.id, account=gone)
    # As before account claims existed: the booking is there, its claim is not.
    await redis.delete(AccountKeys(old).bookings)
    before = await redis.hgetall(AccountKeys(kept).bookings)

    office = app.at("kanim-jaksel").office
    yesterday = office.local_today(app.clock.now()) - timedelta(days=1)
    tally = await dayend_core(app.view("kanim-jaksel"), yesterday)
    assert tally.get("claims_backfilled") == 1
    assert await app.account_claims.holders(old) == [("kanim-jaksel", made.id)]
    assert await redis.pexpiretime(AccountKeys(old).bookings) > 0
    assert await redis.hgetall(AccountKeys(kept).bookings) == before
    assert await app.account_claims.holders(gone) == []
    # Done once: the next run reads nothing and says nothing of it.
    assert "claims_backfilled" not in await dayend_core(app.view("kanim-jaksel"), yesterday)
    # The backfilled claim counts under the cap (1) across the network.
    with pytest.raises(AccountLimit):
        await hold_and_book(app, "kanim-makassar", old, "3171015001900004")
    assert [b.id for b in await app.at("kanim-jaksel").seats.active_for_account(has.account)]
