"""The counter page in a real browser: headless system Chromium (Playwright) against the web app
``antrean run`` builds, as test_staff_browser.py does: sign in from a chat link, check in by a
typed code and by a QR shown to the camera (Chromium's fake capture device, fed a video made
here from the booking's QR PNG), and two counters calling at once.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from bot.booking.codes import qr_png
from bot.booking.seats import Booking
from tests.bot.booking.test_calls import book_today
from tests.bot.web import test_staff_browser as signin
from tests.bot.web.test_staff_browser import CHROMIUM, CHROMIUM_ARGS, Served

# The fixtures of the sign-in tests: the app `antrean run` serves, and its staff on Telegram.
served = signin.served

WIDTH, HEIGHT = 640, 480


def png_gray(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows (one byte a pixel, 0 or 255) of the 1-bit greyscale PNG that
    :func:`qr_png` writes (filter type 0 on every row)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, width, height = 8, b"", 0, 0
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", data[:10])
            assert (depth, color) == (1, 0)
        elif kind == b"IDAT":
            idat += data
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + (width + 7) // 8
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0
        bits = "".join(f"{byte:08b}" for byte in line[1:])[:width]
        rows.append(bytes(255 if bit == "1" else 0 for bit in bits))
    return width, height, rows


def y4m_of(png: bytes, frames: int = 5) -> bytes:
    """A short Y4M video (I420, 640x480) of the image centred on white: what Chromium's fake
    camera plays, in a loop."""
    width, height, rows = png_gray(png)
    assert width <= WIDTH and height <= HEIGHT
    left, top = (WIDTH - width) // 2, (HEIGHT - height) // 2
    luma = bytearray(b"\xff" * (WIDTH * HEIGHT))
    for y, row in enumerate(rows):
        start = (top + y) * WIDTH + left
        luma[start : start + width] = row
    chroma = b"\x80" * (WIDTH * HEIGHT // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
    return header + frame * frames


async def open_context(playwright: Playwright, profile: Path, *args: str) -> BrowserContext:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} (see test_staff_browser.py)")
    return await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args]
    )


@pytest.fixture
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as running:
        yield running


async def counter_page(served: Served, context: BrowserContext, counter: int) -> Page:
    """Sign in from a fresh chat link, open the counter page and choose ``counter``."""
    link = await served.ask_link()
    assert link is not None
    page = await context.new_page()
    await page.goto(link)
    await page.click("#signin")
    await page.wait_for_url(f"{served.base}/staff?lang=id")
    await page.click("#counter-link")
    await page.select_option("#counter-number", str(counter))
    await page.click("#use-counter")
    await page.wait_for_selector("#counter-heading")
    assert await page.inner_text("#counter-heading") == f"Loket {counter}"
    return page


def code_of(served: Served, booking: Booking) -> str:
    return served.app.codes.code(served.app.office.id, booking.id, booking.nik_hash)


async def confirm_check_in(page: Page, booking: Booking) -> None:
    await page.wait_for_selector("#confirm")
    assert await page.inner_text("#name") == booking.name
    assert await page.inner_text("#nik") == "************4321"
    await page.click("#confirm")
    await page.wait_for_selector("#notice")
    assert await page.inner_text("#notice") == f"{booking.queue_number} sudah hadir."
    state = await page.inner_text(f"#row-{booking.id} .state")
    assert state == "sudah hadir"


async def test_check_in_by_typed_code(
    served: Served, playwright: Playwright, tmp_path: Path
) -> None:
    [booking] = await book_today(served.app, 1)
    context = await open_context(playwright, tmp_path / "profile")
    try:
        page = await counter_page(served, context, 4)
        assert await page.inner_text(f"#row-{booking.id} .state") == "terdaftar"
        await page.fill("#code", code_of(served, booking).replace("-", " ").lower())
        await page.click("#find")
        await confirm_check_in(page, booking)
        # The page's own script ran (no CSP error hides the scanner button).
        assert await page.is_visible("#scan")
    finally:
        await context.close()
    stored = await served.app.seats.get(booking.id)
    assert stored is not None and stored.status == "checked_in"


async def test_check_in_by_a_qr_shown_to_the_camera(
    served: Served, playwright: Playwright, tmp_path: Path
) -> None:
    [booking] = await book_today(served.app, 1)
    video = tmp_path / "qr.y4m"
    video.write_bytes(y4m_of(qr_png(code_of(served, booking))))
    context = await open_context(
        playwright,
        tmp_path / "profile",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        page = await counter_page(served, context, 7)
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        native = await page.evaluate("'BarcodeDetector' in window")
        await page.click("#scan")
        await page.wait_for_url(f"{served.base}/staff/loket/cek?lang=id", timeout=20_000)
        await confirm_check_in(page, booking)
        # Without a BarcodeDetector (headless Chromium on Linux has none) the vendored jsQR,
        # fetched only then, decoded the frames.
        vendored = f"{served.base}/staff/static/vendor/jsQR.js"
        assert (vendored in fetched) == (not native)
    finally:
        await context.close()


async def test_two_counters_calling_at_once_get_different_applicants(
    served: Served, playwright: Playwright, tmp_path: Path
) -> None:
    bookings = await book_today(served.app, 3)
    for booking in bookings:
        await served.app.desk.check_in(booking.id, staff="telegram:5550001")
    first = await open_context(playwright, tmp_path / "one")
    second = await open_context(playwright, tmp_path / "two")
    try:
        pages = [await counter_page(served, first, 1), await counter_page(served, second, 2)]
        await asyncio.gather(*(page.click("#call-next") for page in pages))
        numbers = []
        for counter, page in enumerate(pages, 1):
            await page.wait_for_selector("#current-number")
            numbers.append(await page.inner_text("#current-number"))
            assert f"silakan ke loket {counter}" in await page.inner_text("#notice")
        assert sorted(numbers) == sorted(b.queue_number for b in bookings[:2])
        assert numbers[0] != numbers[1]
        # Counter 1 finishes and calls the last one; counter 2 has its own still.
        await pages[0].click("#served")
        await pages[0].wait_for_selector("#call-next")
        await pages[0].click("#call-next")
        await pages[0].wait_for_selector("#current-number")
        assert await pages[0].inner_text("#current-number") == bookings[2].queue_number
        await pages[1].reload()
        assert await pages[1].inner_text("#current-number") == numbers[1]
    finally:
        await first.close()
        await second.close()
