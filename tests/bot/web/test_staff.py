"""The staff pages over HTTP (httpx): what a browser is not needed to show. The whole flow in a
real browser is in test_staff_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.core.clock import ManualClock
from bot.web import build_web_app
from bot.web.staff import COOKIE, SECURITY_HEADERS
from tests.support import User, make_app, make_engine
from tests.web_support import run_server

STAFF = "console:admin=admin,console:desk=officer"


@dataclass
class Site:
    app: App
    base: str
    http: httpx.AsyncClient
    users: dict[str, User]

    async def link(self, who: str = "desk") -> str:
        """A sign-in link, asked for in chat as staff do."""
        user = self.users.setdefault(who, User(*make_engine(self.app), who))
        reply = await user.says("/masuk")
        [link] = re.findall(r"http://\S+", reply)
        return link.replace("http://127.0.0.1:8080", self.base)

    async def sign_in(self, who: str = "desk") -> httpx.Response:
        link = await self.link(who)
        token = link.split("t=")[1].split("&")[0]
        response = await self.http.post(f"{self.base}/staff/masuk", data={"t": token})
        self.http.cookies.clear()  # each test says which cookie it sends
        return response


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session_id}"}


@pytest.fixture
async def site(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Site]:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    engine, _ = make_engine(app)
    async with (
        run_server(build_web_app(app, engine, [])) as base,
        httpx.AsyncClient(follow_redirects=False) as http,
    ):
        yield Site(app, base, http, {})


def assert_guarded(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    assert "script-src" not in response.headers["Content-Security-Policy"]


async def test_opening_a_link_shows_the_button_and_uses_nothing(site: Site) -> None:
    link = await site.link()
    for _ in range(3):  # a chat app's preview, the person, a reload
        page = await site.http.get(link)
        assert page.status_code == 200
        assert_guarded(page)
        assert "Masuk / Sign in" in page.text and 'method="post"' in page.text
        assert "console:d…" in page.text and "console:desk" not in page.text
        assert "<script" not in page.text
    signed = await site.sign_in()
    assert signed.status_code == 303 and signed.headers["location"] == "/staff"


async def test_sign_in_sets_a_strict_cookie_and_the_landing_page_masks_the_user(
    site: Site,
) -> None:
    response = await site.sign_in()
    assert_guarded(response)
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/staff" in set_cookie and "SameSite=Strict" in set_cookie
    assert "secure" not in attributes  # the public URL is http://
    session_id = response.cookies[COOKIE]
    home = await site.http.get(f"{site.base}/staff", headers=cookie(session_id))
    assert home.status_code == 200
    assert_guarded(home)
    assert site.app.office.name in home.text and "petugas loket" in home.text
    assert "console:d…" in home.text and "console:desk" not in home.text
    english = await site.http.get(f"{site.base}/staff?lang=en", headers=cookie(session_id))
    assert "counter officer" in english.text and 'lang="en"' in english.text
    entries = [(e.actor, e.action, e.result) for e in await site.app.audit.latest()]
    assert ("console:desk", "signin", "ok") in entries


async def test_a_secure_cookie_behind_https(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path, staff=STAFF, public_url="https://antrean.example.id")
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        token, write = app.staff_access.issue("console:desk", "officer", "id")
        from bot.core.writes import run

        await run(redis, [write])
        response = await http.post(f"{base}/staff/masuk", data={"t": token})
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("spoil", "status", "words"),
    [
        ("used", 410, "sudah dipakai"),
        ("expired", 410, "kedaluwarsa"),
        ("unknown", 403, "tidak dikenal"),
    ],
)
async def test_a_used_expired_or_unknown_link_gets_a_clear_page(
    site: Site, clock: ManualClock, spoil: str, status: int, words: str
) -> None:
    link = await site.link()
    token = link.split("t=")[1].split("&")[0]
    if spoil == "used":
        assert (await site.http.post(f"{site.base}/staff/masuk", data={"t": token})).is_redirect
    elif spoil == "expired":
        clock.advance(timedelta(minutes=5))
    else:
        token = "0" * len(token)
    for response in (
        await site.http.get(f"{site.base}/staff/masuk", params={"t": token}),
        await site.http.post(f"{site.base}/staff/masuk", data={"t": token}),
    ):
        assert response.status_code == status
        assert_guarded(response)
        assert words in response.text and "/masuk" in response.text
        assert "Traceback" not in response.text and "set-cookie" not in response.headers
    english = await site.http.get(f"{site.base}/staff/masuk", params={"t": token, "lang": "en"})
    assert english.status_code == status and "/login" in english.text
    refused = [e for e in await site.app.audit.latest() if e.action == "signin"]
    assert refused[-1].result == "refused" and refused[-1].details["reason"] == spoil


async def test_without_a_session_staff_pages_send_to_the_bot(site: Site) -> None:
    for headers in ({}, cookie("x" * 43), cookie("<script>")):
        home = await site.http.get(f"{site.base}/staff", headers=headers)
        assert home.status_code == 303 and home.headers["location"] == "/staff/masuk"
        assert_guarded(home)
        out = await site.http.post(f"{site.base}/staff/keluar", headers=headers, data={})
        assert out.status_code == 403
    ask = await site.http.get(f"{site.base}/staff/masuk")
    assert ask.status_code == 200 and "kirim /masuk ke bot" in ask.text


async def test_every_post_needs_the_session_csrf_token(site: Site) -> None:
    session_id = (await site.sign_in()).cookies[COOKIE]
    cookies = cookie(session_id)
    home = await site.http.get(f"{site.base}/staff", headers=cookies)
    [csrf] = re.findall(r'name="csrf" value="([^"]+)"', home.text)
    bad: list[dict[str, Any]] = [{}, {"csrf": ""}, {"csrf": csrf[:-1] + "x"}]
    for data in bad:
        refused = await site.http.post(f"{site.base}/staff/keluar", headers=cookies, data=data)
        assert refused.status_code == 403 and "Formulir ini kedaluwarsa" in refused.text
        assert_guarded(refused)
    # Another site's form is refused even with the right token.
    cross = await site.http.post(
        f"{site.base}/staff/keluar",
        headers={**cookies, "Origin": "https://evil.example"},
        data={"csrf": csrf},
    )
    assert cross.status_code == 403
    fetched = await site.http.post(
        f"{site.base}/staff/keluar",
        headers={**cookies, "Sec-Fetch-Site": "cross-site", "Origin": "null"},
        data={"csrf": csrf},
    )
    assert fetched.status_code == 403
    assert (await site.http.get(f"{site.base}/staff", headers=cookies)).status_code == 200
    out = await site.http.post(f"{site.base}/staff/keluar", headers=cookies, data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"].startswith("/staff/masuk?out=1")
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    assert (await site.http.get(f"{site.base}/staff", headers=cookies)).status_code == 303
    actions = [(e.action, e.result, e.details.get("reason")) for e in await site.app.audit.latest()]
    assert ("staff_web", "refused", "csrf") in actions and ("signout", "ok", None) in actions


async def test_the_stylesheet_ships_with_the_package(site: Site) -> None:
    css = await site.http.get(f"{site.base}/staff/static/staff.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name in ("nope.css", "%2e%2e%2fapp.py", "..%2F..%2Fapp.py"):
        missing = await site.http.get(f"{site.base}/staff/static/{name}")
        assert missing.status_code == 404, name


async def test_staff_of_another_office_sign_in_there_and_stay_bound_to_it(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from tests.handlers.test_network import STAFF as NETWORK_STAFF
    from tests.handlers.test_network import network_folder

    app = make_app(redis, clock, tmp_path, offices=network_folder(tmp_path), staff=NETWORK_STAFF)
    assert app.office.id == "kanim-jakpus"  # the default office; the officer is Jaksel's
    engine, _ = make_engine(app)
    async with (
        run_server(build_web_app(app, engine, [])) as base,
        httpx.AsyncClient(follow_redirects=False) as http,
    ):
        site = Site(app, base, http, {})
        link = await site.link("9001")  # officer@kanim-jaksel
        assert "o=kanim-jaksel" in link
        page = await http.get(link)
        assert page.status_code == 200 and "Kantor Imigrasi Jakarta Selatan" in page.text
        token = link.split("t=")[1].split("&")[0]
        # The same token at another office's sign-in is unknown there.
        elsewhere = await http.post(f"{base}/staff/masuk?o=kanim-jakpus", data={"t": token})
        assert elsewhere.status_code == 403
        assert (await http.post(f"{base}/staff/masuk", data={"t": token})).status_code == 403
        signed = await http.post(f"{base}/staff/masuk?o=kanim-jaksel", data={"t": token})
        http.cookies.clear()
        assert signed.status_code == 303
        value = signed.cookies[COOKIE]
        assert value.startswith("kanim-jaksel.")
        home = await http.get(f"{base}/staff", headers=cookie(value))
        assert home.status_code == 200 and "Kantor Imigrasi Jakarta Selatan" in home.text
        counter = await http.get(f"{base}/staff/loket", headers=cookie(value))
        assert counter.status_code in (200, 303)  # the page, or choosing a counter first
        assert counter.status_code == 200 or "/staff/masuk" not in counter.headers["location"]
        # The session is bound to its office: the same id under another office is no session.
        forged = "kanim-jakpus." + value.partition(".")[2]
        away = await http.get(f"{base}/staff", headers=cookie(forged))
        assert away.status_code == 303 and away.headers["location"] == "/staff/masuk"
        assert (
            await http.get(f"{base}/staff?x", headers=cookie("kanim-nowhere.x"))
        ).status_code == 303
        jaksel_log = [(e.actor, e.action) for e in await app.at("kanim-jaksel").audit.latest()]
        assert ("console:9001", "signin") in jaksel_log
        # An admin of every office names the office of the link.
        admin = User(*make_engine(app), "9002")
        await admin.says("halo")
        assert "Sebutkan kantornya" in await admin.says("/masuk")
        reply = await admin.says("/masuk @kanim-makassar")
        assert "o=kanim-makassar" in reply
