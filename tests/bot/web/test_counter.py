"""The counter page over HTTP (httpx): choosing a counter, check-in by typed code, calling,
and what the guard adds. The same in a real browser (camera included) is in
test_counter_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.web import build_web_app
from bot.web.staff import COOKIE, SECURITY_HEADERS
from tests.bot.booking.test_calls import book_today
from tests.bot.web.test_staff import STAFF, Site, cookie
from tests.support import make_app, make_engine
from tests.web_support import run_server


@pytest.fixture
async def site(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Site]:
    """As test_staff.py's: the web app on a free port, staff console:admin and console:desk."""
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    engine, _ = make_engine(app)
    async with (
        run_server(build_web_app(app, engine, [])) as base,
        httpx.AsyncClient(follow_redirects=False) as http,
    ):
        yield Site(app, base, http, {})


class Desk:
    """A signed-in counter officer's browser, without a browser."""

    def __init__(self, site: Site, session_id: str) -> None:
        self.site = site
        self.headers = cookie(session_id)
        self.csrf = ""

    async def get(self, path: str = "/staff/loket") -> httpx.Response:
        page = await self.site.http.get(f"{self.site.base}{path}", headers=self.headers)
        found = re.findall(r'name="csrf" value="([^"]+)"', page.text)
        if found:
            self.csrf = found[0]
        return page

    async def post(self, path: str, **data: str) -> httpx.Response:
        return await self.site.http.post(
            f"{self.site.base}{path}", headers=self.headers, data={"csrf": self.csrf, **data}
        )

    async def choose(self, counter: int) -> None:
        await self.get()
        chosen = await self.post("/staff/loket/pilih", counter=str(counter))
        assert chosen.status_code == 303
        value = chosen.cookies["antrean_counter"]
        self.headers = {"Cookie": f"{self.headers['Cookie']}; antrean_counter={value}"}

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, response.text
        return await self.get(response.headers["location"])


async def signed_in(site: Site, who: str = "desk") -> Desk:
    return Desk(site, (await site.sign_in(who)).cookies[COOKIE])


def code_of(site: Site, booking: Booking) -> str:
    return site.app.codes.code(site.app.office.id, booking.id, booking.nik_hash)


async def test_the_page_asks_for_a_counter_then_remembers_it(site: Site) -> None:
    away = await site.http.get(f"{site.base}/staff/loket")
    assert away.status_code == 303 and away.headers["location"] == "/staff/masuk"
    desk = await signed_in(site)
    first = await desk.get()
    assert first.status_code == 200 and 'id="choose"' in first.text
    # Without the CSRF token, no counter.
    forged = await site.http.post(
        f"{site.base}/staff/loket/pilih", headers=desk.headers, data={"counter": "3"}
    )
    assert forged.status_code == 403
    for wrong in ("0", "21", "x"):
        assert (await desk.post("/staff/loket/pilih", counter=wrong)).status_code == 400
    await desk.choose(3)
    page = await desk.get()
    assert "Loket 3" in page.text and "Belum ada pemesanan hari ini" in page.text
    english = await desk.get("/staff/loket?lang=en")
    assert "Counter 3" in english.text and "Call next" in english.text
    # Scripts from the package only, never inline; the camera for this page only.
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["Permissions-Policy"].startswith("camera=(self)")
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/staff/static/counter.js">']
    assert page.headers["X-Frame-Options"] == SECURITY_HEADERS["X-Frame-Options"]
    home = await desk.get("/staff")
    assert "script-src" not in home.headers["Content-Security-Policy"]
    assert home.headers["Permissions-Policy"].startswith("camera=()")
    assert 'href="/staff/loket?lang=id"' in home.text


async def test_the_scripts_ship_with_the_package(site: Site) -> None:
    for path in ("counter.js", "vendor/jsQR.js"):
        served = await site.http.get(f"{site.base}/staff/static/{path}")
        assert served.status_code == 200 and served.headers["content-type"].startswith(
            "text/javascript"
        )
    assert "jsQR" in (await site.http.get(f"{site.base}/staff/static/vendor/jsQR.js")).text
    for path in ("vendor/README.md", "vendor/jsQR.LICENSE", "vendor%2F..%2Fstaff.css"):
        assert (await site.http.get(f"{site.base}/staff/static/{path}")).status_code == 404
    # No such route: like any unknown staff page, sent to sign in.
    assert (await site.http.get(f"{site.base}/staff/static/x/y.js")).status_code == 303


async def test_check_in_by_typed_code_shows_the_name_and_last_four(site: Site) -> None:
    [booking] = await book_today(site.app, 1)
    desk = await signed_in(site)
    await desk.choose(1)
    found = await desk.post("/staff/loket/cek", code=code_of(site, booking).lower())
    assert found.status_code == 200
    assert booking.name in found.text and "************4321" in found.text
    assert booking.queue_number in found.text and 'id="confirm"' in found.text
    assert booking.nik_hash not in found.text
    # Only looked up: not checked in yet.
    assert (await site.app.seats.get(booking.id)).status == "active"  # type: ignore[union-attr]
    done = await desk.follow(await desk.post("/staff/loket/hadir", code=code_of(site, booking)))
    assert f"{booking.queue_number} sudah hadir" in done.text
    assert "Sudah hadir dan menunggu: 1" in done.text
    again = await desk.post("/staff/loket/hadir", code=code_of(site, booking))
    assert again.status_code == 409 and "sudah dipakai" in again.text.lower()
    forged = await desk.post("/staff/loket/cek", code=booking.id + "ZZZZZZ")
    assert forged.status_code == 404 and 'id="confirm"' not in forged.text
    garbage = await desk.post("/staff/loket/cek", code="1234567890123456")
    assert garbage.status_code == 404 and "1234567890123456" not in garbage.text
    entries = [(e.actor, e.action, e.result) for e in await site.app.audit.latest()]
    assert ("console:desk", "checkin", "ok") in entries
    assert ("console:desk", "checkin", "refused") in entries
    assert all("1234567890123456" not in str(e.details) for e in await site.app.audit.latest())


async def test_call_next_recall_served_and_no_show(site: Site) -> None:
    first, second = await book_today(site.app, 2)
    for booking in (first, second):
        await site.app.desk.check_in(booking.id, staff="console:desk")
    desk = await signed_in(site)
    await desk.choose(2)
    page = await desk.follow(await desk.post("/staff/loket/panggil"))
    assert f"Nomor {first.queue_number}, silakan ke loket 2." in page.text
    assert re.search(rf'id="current-number">{first.queue_number}<', page.text)
    # Still called: another call is refused until this one ends.
    busy = await desk.follow(await desk.post("/staff/loket/panggil"))
    assert f"masih memanggil {first.queue_number}" in busy.text
    recalled = await desk.follow(await desk.post("/staff/loket/ulang", booking=first.id))
    assert "Dipanggil 2\u00d7" in recalled.text
    stale = await desk.follow(await desk.post("/staff/loket/selesai", booking=second.id))
    assert "sudah usang" in stale.text
    served = await desk.follow(await desk.post("/staff/loket/selesai", booking=first.id))
    assert f"{first.queue_number} selesai dilayani" in served.text
    assert 'id="call-next"' in served.text
    await desk.post("/staff/loket/panggil")
    gone = await desk.follow(await desk.post("/staff/loket/tidak-hadir", booking=second.id))
    assert f"{second.queue_number} dicatat tidak datang" in gone.text
    empty = await desk.follow(await desk.post("/staff/loket/panggil"))
    assert "Tidak ada pemohon yang sudah hadir" in empty.text
    assert re.search(rf'id="row-{first.id}" class="state-served"', empty.text)
    assert re.search(rf'id="row-{second.id}" class="state-no_show"', empty.text)
    actions = [(e.action, e.result) for e in await site.app.audit.latest()]
    for action in ("call", "recall", "served", "counter_no_show", "counter"):
        assert (action, "ok") in actions


async def test_only_officers_and_admins_of_this_office(site: Site) -> None:
    desk = await signed_in(site, "admin")
    assert (await desk.get()).status_code == 200
    # A session of another office (as a grant for it would open) sees nothing here.
    [session_key] = [k async for k in site.app.redis.scan_iter("*web-session*")]
    await site.app.redis.hset(session_key, "office", "kanim-lain")
    refused = await desk.get()
    assert refused.status_code == 303 and refused.headers["location"] == "/staff/masuk"
    posted = await desk.post("/staff/loket/panggil")
    assert posted.status_code == 403
