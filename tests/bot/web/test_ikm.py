"""The satisfaction survey page (/staff/ikm, bot/web/ikm.py): over HTTP what it shows of a day
(per-element NRR, the weighted sum, the unit's score and grade, escaped comments), and in a real
browser (headless system Chromium, as test_counter_browser.py) that an officer sees their own
office's survey only: another office's is refused."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import async_playwright

from bot.booking.app import App
from bot.booking.seats import Booking
from bot.booking.survey import RECORDED
from bot.core.clock import ManualClock
from bot.web import build_web_app
from bot.web.staff import COOKIE
from tests.bot.booking.test_calls import book_today
from tests.bot.web.test_counter import signed_in, site
from tests.bot.web.test_staff import Site
from tests.bot.web.test_staff_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import hold_and_book, make_app, make_engine
from tests.web_support import run_server

__all__ = ["site"]  # fixtures

COUNTER = "console:desk"


async def answer(
    app: App, office_id: str, bookings: Sequence[Booking], *surveys: tuple[list[int], str]
) -> None:
    """Serve each booking at ``office_id`` (checked in, called, served) and record its survey."""
    desk = app.at(office_id).desk
    for booking, (scores, comment) in zip(bookings, surveys, strict=True):
        await desk.check_in(booking.id, staff=COUNTER)
        await desk.call_next(1, staff=COUNTER)
        await desk.served(1, staff=COUNTER)
        outcome = await desk.surveys.record(
            booking.id, account=booking.account, day=booking.day, scores=scores, comment=comment
        )
        assert outcome == RECORDED


async def test_the_page_shows_the_days_index_and_escaped_comments(site: Site) -> None:
    app = site.app
    away = await site.http.get(f"{site.base}/staff/ikm")
    assert away.status_code == 303 and away.headers["location"] == "/staff/masuk"
    desk = await signed_in(site)
    empty = await desk.get("/staff/ikm")
    assert empty.status_code == 200 and "Belum ada responden pada hari ini." in empty.text
    bookings = await book_today(app, 4)
    # The hand-worked example of tests/bot/booking/test_ikm.py: sums 13,12,11,16,12,14,15,10,12.
    await answer(
        app,
        app.office.id,
        bookings,
        ([4, 3, 3, 4, 3, 4, 4, 3, 3], "<script>alert(1)</script> antre lama"),
        ([3, 3, 3, 4, 3, 4, 4, 3, 3], ""),
        ([3, 3, 3, 4, 3, 3, 4, 2, 3], "Petugas ramah"),
        ([3, 3, 2, 4, 3, 3, 3, 2, 3], ""),
    )
    page = await desk.get("/staff/ikm")
    text = page.text
    assert re.search(r'id="respondents">4<', text)
    assert re.search(r'id="total">3.1944<', text)
    assert re.search(r'id="score">79.86<', text)
    assert re.search(r'id="grade">B \(Baik\)<', text)
    nrr = re.findall(r'class="nrr">([\d.]+)<', text)
    assert nrr == ["3.25", "3.00", "2.75", "4.00", "3.00", "3.50", "3.75", "2.50", "3.00"]
    assert re.findall(r'class="weighted">([\d.]+)<', text)[:3] == ["0.361", "0.333", "0.306"]
    assert "Persyaratan" in text and "Sarana dan prasarana" in text
    # Newest first, escaped by the template engine.
    assert text.index("Petugas ramah") < text.index("antre lama")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; antre lama" in text
    # Another day, a bad day, English.
    tomorrow = (bookings[0].day + timedelta(days=1)).isoformat()
    other = await desk.get(f"/staff/ikm?day={tomorrow}")
    assert "Belum ada responden" in other.text and "Petugas ramah" not in other.text
    bad = await desk.get("/staff/ikm?day=kemarin")
    assert "Tanggal tidak dikenali" in bad.text and 'id="score">79.86<' in bad.text
    english = await desk.get("/staff/ikm?lang=en")
    assert 'id="grade">B (Good)<' in english.text and "Requirements" in english.text
    # Linked from the staff home page.
    assert 'href="/staff/ikm?lang=id"' in (await desk.get("/staff")).text


async def test_a_session_of_another_office_sees_nothing(site: Site) -> None:
    desk = await signed_in(site, "admin")
    assert (await desk.get("/staff/ikm")).status_code == 200
    [session_key] = [k async for k in site.app.redis.scan_iter("*web-session*")]
    await site.app.redis.hset(session_key, "office", "kanim-lain")
    refused = await desk.get("/staff/ikm")
    assert refused.status_code == 303 and refused.headers["location"] == "/staff/masuk"


async def test_in_the_browser_an_officer_sees_their_office_only(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from tests.handlers.test_network import STAFF as NETWORK_STAFF
    from tests.handlers.test_network import network_folder

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} (see test_staff_browser.py)")
    app = make_app(redis, clock, tmp_path, offices=network_folder(tmp_path), staff=NETWORK_STAFF)
    jakpus, jaksel = "kanim-jakpus", "kanim-jaksel"
    at_jakpus = [
        await hold_and_book(app, jakpus, f"telegram:{100 + i}", f"317101150885000{i}")
        for i in range(2)
    ]
    [at_jaksel] = [await hold_and_book(app, jaksel, "telegram:200", "3171011508850009")]
    day = at_jakpus[0].day
    assert at_jaksel.day == day
    clock.set(datetime.combine(day, time(9, 0), tzinfo=app.at(jakpus).office.tz))
    await answer(app, jakpus, at_jakpus, ([4] * 9, "<b>Jakpus</b> cepat"), ([4] * 9, ""))
    await answer(app, jaksel, [at_jaksel], ([2] * 9, "Jaksel lambat"))
    engine, _ = make_engine(app)
    async with (
        run_server(build_web_app(app, engine, [])) as base,
        httpx.AsyncClient(follow_redirects=False) as http,
        async_playwright() as playwright,
    ):
        site = Site(app, base, http, {})
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await context.new_page()
            await page.goto(await site.link("9001"))  # officer@kanim-jaksel
            await page.click("#signin")
            await page.wait_for_url(f"{base}/staff?lang=id")
            await page.click("#ikm-link")
            await page.wait_for_selector("#ikm-heading")
            assert "Jakarta Selatan" in await page.inner_text("header")
            assert await page.inner_text("#respondents") == "1"
            assert await page.inner_text("#score") == "50.00"
            assert await page.inner_text("#grade") == "D (Tidak Baik)"
            comments = await page.inner_text("#comments")
            assert "Jaksel lambat" in comments and "Jakpus" not in comments
            # The day picker: the next day has nobody yet.
            await page.fill("#day", (day + timedelta(days=1)).isoformat())
            await page.click("#show")
            await page.wait_for_selector("#none")
            assert f"day={(day + timedelta(days=1)).isoformat()}" in page.url
            # The same session id under the other office is no session there: refused, back
            # to signing in (never Jakpus's survey).
            [cookie] = [c for c in await context.cookies() if c["name"] == COOKIE]
            forged = "kanim-jakpus." + cookie["value"].partition(".")[2]
            await context.add_cookies([{**cookie, "value": forged}])  # type: ignore[list-item]
            response = await page.goto(f"{base}/staff/ikm")
            assert response is not None
            assert "/staff/masuk" in page.url
            assert await page.query_selector("#ikm-heading") is None
            assert "Jakpus" not in await page.content()
            # Jakpus's officer sees Jakpus's, its comment escaped (shown as text, not bold).
            other = await context.new_page()
            await context.clear_cookies()
            await other.goto(await site.link("9003"))  # officer@kanim-jakpus
            await other.click("#signin")
            await other.wait_for_url(f"{base}/staff?lang=id")
            await other.goto(f"{base}/staff/ikm?lang=id")
            assert await other.inner_text("#respondents") == "2"
            assert await other.inner_text("#grade") == "A (Sangat Baik)"
            assert "<b>Jakpus</b> cepat" in await other.inner_text("#comments")
            assert await other.query_selector("#comments b") is None
        finally:
            await context.close()
