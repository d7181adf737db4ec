"""The same booking conversation over every channel (one driver per channel in drivers/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.channel import Notice
from bot.core.clock import ManualClock
from bot.core.messages import Choices, Option
from tests.channels.drivers import Driver, discover
from tests.support import NIK_MAN

DRIVERS = discover()


@pytest.fixture(params=sorted(DRIVERS))
async def driver(
    request: pytest.FixtureRequest, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Driver]:
    async with DRIVERS[request.param](redis, clock, tmp_path) as opened:
        yield opened


@pytest.fixture(params=sorted(DRIVERS))
async def network_driver(
    request: pytest.FixtureRequest, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Driver]:
    """A channel's driver on a network of three offices (tests/handlers/test_network.py)."""
    from tests.handlers.test_network import network_folder

    offices = network_folder(tmp_path)
    async with DRIVERS[request.param](redis, clock, tmp_path, offices=offices) as opened:
        yield opened


def test_every_channel_has_a_driver() -> None:
    assert {"console", "telegram", "whatsapp"} <= set(DRIVERS)


async def test_the_whole_booking_conversation(driver: Driver) -> None:
    seen = await driver.type("halo")
    assert "Selamat datang" in seen.all_text
    assert "Ambil antrean" in seen.options
    seen = await driver.choose(1)
    assert "Paspor baru" in seen.options
    seen = await driver.choose(1)
    assert "Pilih tanggal" in seen.all_text and seen.options
    seen = await driver.choose(1)
    assert "Pilih jam" in seen.all_text and seen.options
    seen = await driver.choose(1)
    assert "NIK" in seen.all_text
    seen = await driver.type("123")
    assert "16 angka" in seen.all_text
    seen = await driver.type(NIK_MAN)
    assert "nama lengkap" in seen.all_text
    seen = await driver.type("Budi Santoso")
    assert "Budi Santoso" in seen.all_text and NIK_MAN not in seen.all_text
    seen = await driver.choose(1)
    assert "A-001" in seen.all_text and seen.images == 1


async def test_language_switch_and_requirements(driver: Driver) -> None:
    await driver.type("halo")
    seen = await driver.type("language")
    assert "English" in seen.options
    seen = await driver.choose(2)
    assert "Language set to English" in seen.all_text
    seen = await driver.choose(3)
    assert "Requirements for which service" in seen.all_text
    seen = await driver.choose(1)
    assert "e-KTP" in seen.all_text


async def test_typed_answers_and_refusals(driver: Driver) -> None:
    await driver.type("halo")
    await driver.type("ambil")
    seen = await driver.type("paspor baru")
    assert "Pilih tanggal" in seen.all_text
    # Nine days on offer: the refusal quotes the answer and does not send the list again.
    seen = await driver.type("kapan saja")
    assert "“kapan saja”" in seen.all_text and "di atas" in seen.all_text
    assert not seen.options
    seen = await driver.type("rabu")
    assert "Pilih jam" in seen.all_text
    seen = await driver.type("10:00-12:00")
    assert "NIK" in seen.all_text
    await driver.type(NIK_MAN)
    seen = await driver.type("Budi Santoso")
    assert "Budi Santoso" in seen.all_text
    seen = await driver.type("ya")
    # Numbers go by window: 10:00 follows the 08:00 window's block (40 seats: 1-50).
    assert "A-051" in seen.all_text and seen.images == 1


async def test_a_notice_reaches_the_user(driver: Driver) -> None:
    """What workers send unprompted (a reminder) goes out through ``notify`` on every channel;
    the user wrote a moment ago, so WhatsApp may send it free-form too."""
    await driver.type("halo")
    text = "Pengingat: besok jam 08:00, nomor A-001."
    seen = await driver.notify(
        Notice(text, template="antrean_reminder", params=("A-001",), locale="id")
    )
    assert seen.texts == [text] and not seen.options


async def test_a_notice_with_a_button(driver: Driver) -> None:
    """A notice's own messages (a closed day's "book again" button) are what the user sees."""
    await driver.type("halo")
    text = "Hari Rabu ditutup."
    button = Choices(text, (Option("book", "Ambil antrean lagi"),))
    seen = await driver.notify(
        Notice(text, template="antrean_notice", params=(text,), locale="id", messages=(button,))
    )
    assert text in seen.all_text and seen.options == ["Ambil antrean lagi"]


async def test_the_office_step_asks_for_a_location(network_driver: Driver) -> None:
    """Each platform's own "share my location" control (WhatsApp's location request message,
    Telegram's request_location button, the console's ``lat,lon`` hint); the shared place gives
    the three nearest offices, nearest first."""
    driver = network_driver
    await driver.type("halo")
    seen = await driver.choose(1)
    assert "Di kantor mana" in seen.all_text and seen.location_asked
    assert "tiga kantor terdekat" in seen.all_text
    # Typed text that finds nothing asks again, without a second location request.
    seen = await driver.type("zzzz")
    assert "Tidak ada kantor" in seen.all_text and not seen.location_asked
    seen = await driver.share(-6.2440, 106.8000)  # near Blok M, South Jakarta
    assert len(seen.options) == 3 and not seen.location_asked
    # (WhatsApp shortens a list row's title to 24 characters, the whole name in its description.)
    assert all(title.startswith("Kantor Imigrasi") for title in seen.options)
    seen = await driver.choose(1)
    assert "Paspor baru" in seen.options


async def test_the_text_that_takes_a_location_request_back_reads_as_any_other(
    network_driver: Driver,
) -> None:
    """The office typed instead of shared: the first text after it (the NIK question, which
    Telegram sends with its reply keyboard removed) is an ordinary message on every channel."""
    driver = network_driver
    await driver.type("halo")
    await driver.choose(1)
    seen = await driver.type("makassar")
    assert "Paspor baru" in seen.options
    for _ in range(3):  # service, day, window
        seen = await driver.choose(1)
    assert "NIK" in seen.all_text and not seen.options
