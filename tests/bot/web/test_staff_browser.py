"""Staff sign-in in a real browser: headless Chromium (Playwright) against the web app
``antrean run`` builds (bot/compose.py), on a free loopback port, with a real Redis; the staff
member asks for the link over Telegram (the fake Bot API).

The browser is the system Chromium (``CHROMIUM``, default /usr/bin/chromium; ``make test``
installs it where it is missing). Without it these tests fail, saying so: they never skip.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, async_playwright

from bot.booking.app import App
from bot.compose import open_app
from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer, free_port
from bot.infra.settings import load_settings
from bot.web.staff import COOKIE
from tests.channels.drivers.telegram import WEBHOOK_SECRET, TelegramDriver, text_update
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import SECRET
from tests.web_support import run_server

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAFF_CHAT = 5550001
APPLICANT_CHAT = 5550099


@dataclass
class Served:
    app: App
    base: str
    driver: TelegramDriver

    async def ask_link(self, chat_id: int = STAFF_CHAT) -> str | None:
        """Type /masuk in Telegram; the link the bot answered with, if any."""
        seen = await self.driver.deliver(text_update("/masuk", chat_id))
        found = re.findall(r"http://\S+/staff/masuk\?\S+", "\n".join(seen.texts))
        return found[0] if found else None


@pytest.fixture
async def served(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Served]:
    """``antrean run``'s web app (open_app "run") on a free port, its links pointing there by
    default (ANTREAN_PUBLIC_URL unset)."""
    fake = FakeTelegram()
    port = free_port()
    async with run_server(fake.app()) as api_base:
        settings = load_settings(
            secret_key=SECRET,
            var_dir=tmp_path,
            redis_url=redis_server.url,
            http_port=port,
            staff=f"telegram:{STAFF_CHAT}",
            telegram_token=TOKEN,
            telegram_api_base=api_base,
            telegram_webhook_secret=WEBHOOK_SECRET,
            rate_limit_per_minute=0,
        )
        async with open_app(settings, "run", clock=clock) as process:
            assert process.web is not None
            await process.deps.redis.flushall()
            runner = web.AppRunner(process.web, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                async with aiohttp.ClientSession() as http:
                    base = f"http://127.0.0.1:{port}"
                    yield Served(process.deps, base, TelegramDriver(fake, http, base))
            finally:
                await runner.cleanup()
                gc.unfreeze()  # what serving froze (bot/web/app.py freeze_heap)


@pytest.fixture
async def staff_browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Headless system Chromium with a fresh profile."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: run `make test` (it installs "
            "it as root) or `apt-get install chromium`, or set CHROMIUM=/path/to/chromium"
        )
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            await context.close()


async def open_page(context: BrowserContext, url: str) -> tuple[Page, int]:
    page = await context.new_page()
    response = await page.goto(url)
    assert response is not None
    return page, response.status


async def test_sign_in_from_a_chat_link_to_sign_out(
    served: Served, staff_browser: BrowserContext
) -> None:
    link = await served.ask_link()
    assert link is not None and link.startswith(f"{served.base}/staff/masuk?t=")

    page, status = await open_page(staff_browser, link)
    assert status == 200
    await page.click("#signin")
    await page.wait_for_url(f"{served.base}/staff?lang=id")
    assert served.app.office.name in await page.inner_text("#office")
    assert await page.inner_text("#role") == "petugas loket"
    assert await page.inner_text("#who") == "telegram:55…01"
    assert str(STAFF_CHAT) not in await page.content()

    [cookie] = [c for c in await staff_browser.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/staff" and not cookie["secure"]  # http:// on loopback
    assert cookie["expires"] > 0  # not a browser-session cookie: it ends with the day

    # The link is spent: opened again, it says so, and signs nobody in.
    again, status = await open_page(staff_browser, link)
    assert status == 410 and "sudah dipakai" in await again.inner_text("main")
    assert await again.query_selector("#signin") is None
    reused = await staff_browser.request.post(
        f"{served.base}/staff/masuk", form={"t": link.split("t=")[1].split("&")[0]}
    )
    assert reused.status == 410

    # A POST with the session cookie but without the form's CSRF token is refused, and the
    # session goes on.
    forged = await staff_browser.request.post(f"{served.base}/staff/keluar", form={"x": "1"})
    assert forged.status == 403
    await page.reload()
    assert await page.inner_text("#who") == "telegram:55…01"

    await page.click("#signout")
    await page.wait_for_url(re.compile(r".*/staff/masuk\?out=1.*"))
    assert "Anda sudah keluar" in await page.inner_text("main")
    assert [c for c in await staff_browser.cookies() if c["name"] == COOKIE] == []
    response = await page.goto(f"{served.base}/staff")
    assert response is not None and response.url.startswith(f"{served.base}/staff/masuk")
    assert "/masuk" in await page.inner_text("main")

    actions = [(e.actor, e.action, e.result) for e in await served.app.audit.latest()]
    actor = f"telegram:{STAFF_CHAT}"
    for done in ("signin_link", "signin", "signout"):
        assert (actor, done, "ok") in actions
    assert (actor, "signin", "refused") in actions and (actor, "staff_web", "refused") in actions


async def test_an_expired_link_is_refused_in_both_languages(
    served: Served, staff_browser: BrowserContext, clock: ManualClock
) -> None:
    link = await served.ask_link()
    assert link is not None
    page, status = await open_page(staff_browser, link)
    assert status == 200
    clock.advance(timedelta(minutes=5, seconds=1))
    await page.click("#signin")  # the page was open, the link expired meanwhile
    assert "kedaluwarsa" in await page.inner_text("main")
    assert page.url.startswith(f"{served.base}/staff/masuk")
    english, status = await open_page(staff_browser, link.replace("lang=id", "lang=en"))
    assert status == 410 and "has expired" in await english.inner_text("main")
    assert [c for c in await staff_browser.cookies() if c["name"] == COOKIE] == []


async def test_someone_not_staff_gets_no_link(
    served: Served, staff_browser: BrowserContext
) -> None:
    assert await served.ask_link(APPLICANT_CHAT) is None
    assert [k async for k in served.app.redis.scan_iter("*signin*")] == []
    page, status = await open_page(staff_browser, f"{served.base}/staff")
    assert status == 200 and page.url == f"{served.base}/staff/masuk"
    assert "kirim /masuk ke bot" in await page.inner_text("main")
