"""The waiting-room display in a real browser (headless system Chromium, as the counter page's
browser tests): a display open while a counter page calls next shows the call without a
reload, in its own script's rendering (no CSP error), and the chime button works."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Playwright

from tests.bot.booking.test_calls import book_today
from tests.bot.web import test_counter_browser as counter
from tests.bot.web import test_staff_browser as signin
from tests.bot.web.test_staff_browser import Served

served = signin.served
playwright = counter.playwright


async def test_the_display_shows_a_call_from_the_counter_page_without_a_reload(
    served: Served, playwright: Playwright, tmp_path: Path
) -> None:
    bookings = await book_today(served.app, 2)
    for booking in bookings:
        await served.app.desk.check_in(booking.id, staff="telegram:5550001")
    tv = await counter.open_context(playwright, tmp_path / "tv")
    desk = await counter.open_context(playwright, tmp_path / "desk")
    try:
        display = await tv.new_page()
        errors: list[str] = []
        display.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await display.goto(f"{served.base}/display/{served.app.office.id}")
        assert await display.inner_text("#none") == "Belum ada panggilan."
        # The stream is open and its first event (no calls yet) rendered.
        # (Selectors, not wait_for_function: its polling evaluates a string, which the page's
        # Content-Security-Policy refuses when the first check is not already true.)
        await display.wait_for_selector("body[data-events='1']", state="attached")
        await display.click("#chime")  # the chime on (Web Audio, after a gesture)
        assert await display.inner_text("#chime") == "Matikan bunyi"
        page = await counter.counter_page(served, desk, 5)
        await page.click("#call-next")
        await page.wait_for_selector("#current-number")
        newest = display.locator("#list li.newest")
        await newest.wait_for(timeout=10_000)
        assert (
            " ".join((await newest.inner_text()).split()) == f"{bookings[0].queue_number} → Loket 5"
        )
        assert not await display.is_visible("#none")
        # Served, the next call: the newest first, the earlier below it; still no reload.
        await page.click("#served")
        await page.wait_for_selector("#call-next")
        await page.click("#call-next")
        await display.wait_for_selector(
            f"#list li.newest .number:text-is('{bookings[1].queue_number}')"
        )
        rows = [" ".join(r.split()) for r in await display.locator("#list li").all_inner_texts()]
        assert rows == [
            f"{bookings[1].queue_number} → Loket 5",
            f"{bookings[0].queue_number} → Loket 5",
        ]
        assert await display.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        await tv.close()
        await desk.close()
