"""The waiting-room display over HTTP (httpx): the page, its server-sent events after a call,
the heartbeat, reconnecting, displays leaving, and 404 for an unknown office. The same in a
real browser is in test_display_browser.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bot.booking.app import App
from bot.booking.seats import Booking
from bot.core.clock import ManualClock
from bot.web import build_web_app
from bot.web.display import FEED_KEY, DisplayFeed
from tests.handlers.test_staff import STAFF, book, visit_day
from tests.support import make_app, make_engine
from tests.web_support import run_server


@dataclass
class Screen:
    app: App
    base: str
    http: httpx.AsyncClient
    feed: DisplayFeed

    @property
    def url(self) -> str:
        return f"{self.base}/display/{self.app.office.id}"


@pytest.fixture
async def screen(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Screen]:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    engine, _ = make_engine(app)
    web_app: web.Application = build_web_app(app, engine, [])
    feed = web_app[FEED_KEY]
    feed.heartbeat_s = 0.3
    async with run_server(web_app) as base, httpx.AsyncClient(timeout=10) as http:
        yield Screen(app, base, http, feed)


async def waiting(app: App, clock: ManualClock, count: int) -> list[Booking]:
    bookings = [await book(app, f"console:{i}", f"{i:032d}") for i in range(count)]
    visit_day(app, bookings[0], clock)
    for booking in bookings:
        await app.desk.check_in(booking.id, staff=STAFF)
    return bookings


class Stream:
    """An open event stream: its lines, read as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def line(self) -> str:
        return await asyncio.wait_for(anext(self.lines), 5)

    async def event(self) -> tuple[str, dict[str, object]]:
        """The next ``calls`` event: its id and data (heartbeats skipped)."""
        fields: dict[str, str] = {}
        while True:
            line = await self.line()
            if line == "" and "data" in fields:
                return fields["id"], json.loads(fields["data"])
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value


async def test_unknown_office_is_404(screen: Screen) -> None:
    for path in ("/display/nowhere", "/display/nowhere/events"):
        response = await screen.http.get(screen.base + path)
        assert response.status_code == 404
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_the_page_shows_the_calls_with_its_own_script_only(
    screen: Screen, clock: ManualClock
) -> None:
    empty = await screen.http.get(screen.url)
    assert empty.status_code == 200 and "Belum ada panggilan." in empty.text
    csp = empty.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script src="/staff/static/display.js"></script>' in empty.text
    assert "<script>" not in empty.text
    bookings = await waiting(screen.app, clock, 2)
    await screen.app.desk.call_next(4, staff=STAFF)
    page = await screen.http.get(screen.url + "?lang=en")
    assert f"{bookings[0].queue_number}</span>" in page.text and "Counter 4" in page.text
    script = await screen.http.get(screen.base + "/staff/static/display.js")
    assert script.status_code == 200 and "EventSource" in script.text


async def test_events_arrive_after_a_call_with_heartbeats_between(
    screen: Screen, clock: ManualClock
) -> None:
    bookings = await waiting(screen.app, clock, 3)
    async with screen.http.stream("GET", screen.url + "/events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(response)
        assert await stream.line() == "retry: 3000"
        _, state = await stream.event()
        assert state["calls"] == []
        # Nothing happens: a comment line every heartbeat.
        line = await stream.line()
        while not line:
            line = await stream.line()
        assert line == ": heartbeat"
        await screen.app.desk.call_next(3, staff=STAFF)
        event_id, state = await stream.event()
        assert event_id.startswith(bookings[0].day.isoformat() + ":")
        [call] = state["calls"]  # type: ignore[misc]
        assert call["number"] == bookings[0].queue_number and call["counter"] == 3
        await screen.app.desk.call_next(5, staff=STAFF)
        await screen.app.desk.recall(3, staff=STAFF)
        numbers = []
        while len(numbers) < 3:
            _, state = await stream.event()
            numbers = [(c["number"], c["counter"]) for c in state["calls"]]  # type: ignore[attr-defined]
        assert numbers == [
            (bookings[0].queue_number, 3),
            (bookings[1].queue_number, 5),
            (bookings[0].queue_number, 3),
        ]
        assert screen.feed.displays() == 1
    # The display went away: it leaves the feed at the next heartbeat at the latest.
    for _ in range(50):
        if screen.feed.displays() == 0:
            break
        await asyncio.sleep(0.05)
    assert screen.feed.displays() == 0


async def test_a_reconnecting_display_gets_the_current_calls_at_once(
    screen: Screen, clock: ManualClock
) -> None:
    bookings = await waiting(screen.app, clock, 2)
    for counter in (1, 2):
        await screen.app.desk.call_next(counter, staff=STAFF)
    for attempt in range(2):
        headers = {"Last-Event-ID": "x:1"} if attempt else {}
        async with screen.http.stream("GET", screen.url + "/events", headers=headers) as r:
            stream = Stream(r)
            _, state = await stream.event()
            numbers = [c["number"] for c in state["calls"]]  # type: ignore[attr-defined]
            assert numbers == [bookings[1].queue_number, bookings[0].queue_number]


async def test_many_displays_share_one_subscription(screen: Screen, clock: ManualClock) -> None:
    await waiting(screen.app, clock, 1)
    async with (
        screen.http.stream("GET", screen.url + "/events") as a,
        screen.http.stream("GET", screen.url + "/events") as b,
    ):
        streams = [Stream(a), Stream(b)]
        for stream in streams:
            await stream.event()
        assert screen.feed.displays(screen.app.office.id) == 2
        await screen.app.desk.call_next(7, staff=STAFF)
        for stream in streams:
            _, state = await stream.event()
            assert state["calls"][0]["counter"] == 7  # type: ignore[index]
