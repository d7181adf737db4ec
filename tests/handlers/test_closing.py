"""/close and /reopen: a preview, a confirmation, and the applicants told, on the console and on
Telegram (the fake Bot API)."""

from __future__ import annotations

from datetime import date

from bot.booking.app import App
from bot.booking.seats import Booking
from tests.channels.drivers.telegram import TelegramDriver, callback_update
from tests.handlers.test_staff import Office, audit_actions, book, office, telegram
from tests.support import Recorder, text_of
from workers.dayend import notify_closed_core, notify_reopened_core

__all__ = ["office", "telegram"]  # fixtures


async def book_window(app: App, account: str, nik_hash: str, window_index: int) -> Booking:
    day = app.office.bookable_days(app.clock.now())[0]
    window = app.office.windows(day)[window_index]
    service = app.office.services[0]
    return await app.seats.confirm(
        hold_id=app.codes.new_id(),
        day=day,
        service=service.id,
        window=window.id,
        default_capacity=window.capacity(service.id),
        prefix=service.prefix,
        account=account,
        max_active=1,
        nik_hash=nik_hash,
        nik_last4="0001",
        name="Budi Santoso",
        locale="id",
    )


async def statuses(app: App, bookings: list[Booking]) -> list[str]:
    return [(await app.seats.get(b.id)).status for b in bookings]  # type: ignore[union-attr]


def closure_of(app: App, day: date) -> object:
    return app.counter.closure(day)


async def test_close_previews_asks_and_reopen_tells_the_applicants(office: Office) -> None:
    app = office.app
    bookings = [
        await book(app, "telegram:71", "a" * 32),
        await book(app, "telegram:72", "b" * 32, locale="en"),
        await book_window(app, "telegram:73", "c" * 32, 1),
    ]
    day = bookings[0].day
    iso = day.isoformat()
    admin = office.user("admin")
    await admin.says("halo")

    preview = await admin.says(f"/close {iso} Pemadaman listrik")
    assert "Tutup " in preview and "“Pemadaman listrik”" in preview
    assert "Pemesanan aktif yang akan dibatalkan: 3" in preview
    assert "• 08:00\u201310:00: 2" in preview and "• 10:00\u201312:00: 1" in preview
    assert f"/reopen {iso}" in preview and "tetap batal" in preview
    assert "1. Ya, tutup" in preview and "2. Tidak, batalkan" in preview
    assert await statuses(app, bookings) == ["active"] * 3
    assert not await app.seats.is_closed(day)

    no = await admin.says("2")
    assert "tidak ada yang diubah" in no and "Apa yang ingin Anda lakukan?" in no
    assert await statuses(app, bookings) == ["active"] * 3
    assert not await app.seats.is_closed(day)

    await admin.says(f"/close {iso} Pemadaman listrik")
    # Another command while the close waits: its answer, then the same question again.
    between = await admin.says(f"/stats {iso}")
    assert "*Paspor baru*" in between and "Pemesanan aktif yang akan dibatalkan: 3" in between
    done = await admin.says("ya")
    assert "Pemesanan dibatalkan: 3" in done and f"/reopen {iso}" in done
    assert await statuses(app, bookings) == ["cancelled"] * 3
    assert await app.seats.is_closed(day)

    stats = await admin.says(f"/stats {iso}")
    assert "DITUTUP oleh console:admin: Pemadaman listrik" in stats
    assert "dibatalkan karena penutupan: 3" in stats
    assert "*Paspor baru*" not in stats and "kapasitas" not in stats

    preview = await admin.says(f"/reopen {iso}")
    assert "Buka lagi" in preview and "3 pemohon" in preview and "tetap batal" in preview
    assert await app.seats.is_closed(day)  # nothing before the yes
    done = await admin.says("yes")
    assert "dibuka lagi" in done
    assert not await app.seats.is_closed(day) and await closure_of(app, day) is None
    assert await statuses(app, bookings) == ["cancelled"] * 3
    assert "*Paspor baru*" in await admin.says(f"/stats {iso}")

    # The applicants are told, once each, in their language, with a button to book again.
    recorder = Recorder()
    assert await notify_reopened_core(app, {"telegram": recorder}, day) == {"sent": 3}
    assert await notify_reopened_core(app, {"telegram": recorder}, day) == {"skipped": 3}
    texts = {user: text_of(messages[0]) for user, messages in recorder.sent.items()}
    assert "bisa memesan lagi" in texts["71"] and bookings[0].queue_number in texts["71"]
    assert "can book again" in texts["72"] and "Book again" in texts["72"]

    assert "tidak ditutup" in await admin.says(f"/reopen {iso}")
    assert "Cara pakai: /reopen" in await admin.says("/reopen")

    actions = await audit_actions(app)
    for action, result in [
        ("close", "previewed"),
        ("close", "cancelled"),
        ("close", "ok"),
        ("reopen", "previewed"),
        ("reopen", "ok"),
        ("reopen", "refused"),
    ]:
        assert ("console:admin", action, result) in actions, (action, result)


async def test_reopen_notices_wait_while_the_day_is_closed_again(office: Office) -> None:
    app = office.app
    booking = await book(app, "telegram:71", "a" * 32)
    iso = booking.day.isoformat()
    admin = office.user("admin")
    await admin.says("halo")
    for text in (f"/close {iso} banjir", "ya", f"/reopen {iso}", "ya", f"/close {iso} lagi", "ya"):
        await admin.says(text)
    assert await notify_reopened_core(app, {"telegram": Recorder()}, booking.day) == {"closed": 1}
    assert "lagi" in await admin.says(f"/stats {iso}")


async def test_close_and_reopen_over_telegram_with_buttons(
    telegram: tuple[TelegramDriver, App],
) -> None:
    driver, app = telegram
    chats = [9001, 9002]
    bookings = [
        await book(app, f"telegram:{chat}", f"{chat:032d}", locale=lang)
        for chat, lang in zip(chats, ["id", "en"], strict=True)
    ]
    day = bookings[0].day
    await driver.type("halo")
    seen = await driver.type(f"/close {day.isoformat()} banjir")
    assert "Pemesanan aktif yang akan dibatalkan: 2" in seen.all_text
    assert seen.options == ["Ya, tutup", "Tidak, batalkan"]
    assert "tidak ada yang diubah" in (await driver.choose(2)).all_text
    assert await statuses(app, bookings) == ["active"] * 2
    await driver.type(f"/close {day.isoformat()} banjir")
    assert "Pemesanan dibatalkan: 2" in (await driver.choose(1)).all_text
    channels = {"telegram": driver.channel}  # type: ignore[attr-defined]
    assert await notify_closed_core(app, channels, day, "banjir") == {"sent": 2}

    seen = await driver.type(f"/reopen {day.isoformat()}")
    assert "2 pemohon" in seen.all_text and seen.options == ["Ya, buka lagi", "Tidak, batalkan"]
    assert "dibuka lagi" in (await driver.choose(1)).all_text
    assert not await app.seats.is_closed(day)
    before = len(driver.fake.of("sendMessage", chats[0]))
    assert await notify_reopened_core(app, channels, day) == {"sent": 2}
    for chat, booking in zip(chats, bookings, strict=True):
        call = driver.fake.of("sendMessage", chat)[-1]
        assert len(driver.fake.of("sendMessage", chats[0])) == before + 1
        text = call.params["text"]
        assert booking.queue_number in text
        assert ("open again" in text) == (booking.locale == "en")
        [[button]] = call.params["reply_markup"]["inline_keyboard"]
        assert button["callback_data"] == "book"
    # The button starts a new booking.
    tap = await driver.deliver(callback_update("book", 1, chat_id=chats[0]))
    assert "Pilih layanan" in tap.all_text or "Selamat datang" in tap.all_text
    log = [(e.action, e.result) for e in await app.audit.latest(100)]
    assert ("close", "cancelled") in log and ("reopen", "ok") in log


async def test_close_and_quota_confirmations_in_english(office: Office) -> None:
    app = office.app
    booking = await book(app, "telegram:71", "a" * 32)
    iso = booking.day.isoformat()
    admin = office.user("admin")
    await admin.says("halo")
    await admin.says("language")
    await admin.says(option="en")
    assert "Admin commands" in await admin.says("help")
    preview = await admin.says(f"/close {iso} power outage")
    assert "Active bookings to be cancelled: 1" in preview and "1. Yes, close" in preview
    assert "nothing was changed" in await admin.says("no")
    preview = await admin.says(f"/quota {iso} 0800-1000 0")
    assert "New passport: stays 40, as 1 seats are booked" in preview
    done = await admin.says("ya")
    assert "2 of 3 services changed" in done and "Lost / damaged passport: changed 10 → 0" in done
    await admin.says(f"/close {iso} power outage")
    assert "Bookings cancelled: 1" in await admin.says("yes")
    assert "The day is CLOSED by console:admin: power outage" in await admin.says(f"/stats {iso}")
    assert "Open " in await admin.says(f"/reopen {iso}")
    assert "is open for bookings again" in await admin.says("1")
