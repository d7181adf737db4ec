"""The waiting-room display under ``/display/<office>``: public, read-only, for a TV.

The page shows the office's latest calls to a counter ("A-017 -> Loket 3"), the newest first
and largest, and follows them live with server-sent events (``/display/<office>/events``,
bot/web/static/display.js), with an optional chime made by the Web Audio API (a button turns it
on: browsers let a page make sound only after a gesture). No inline script: the page's
Content-Security-Policy (:data:`DISPLAY_HEADERS`) allows the package's own static files and
connections to this origin only.

What a display costs the process: one open connection and one small task, parked on an
:class:`asyncio.Event` between events; nothing queues per display (every event is the whole
list of :data:`SHOWN_CALLS` calls, so a slow display just skips to the newest). One
:class:`DisplayFeed` per web process feeds every display of every office: one pub/sub
subscription to :data:`~bot.infra.keys.CALLS_CHANNEL` (the call scripts publish each call,
bot/booking/calls.py), the latest calls per office kept in memory while the subscription is
live, re-read from the day's call list (one round trip per office, shared by the displays
that ask at once) when it (re)starts or the day changes. A comment line every
:data:`HEARTBEAT_S` keeps proxies from closing the stream and finds displays that went away
(the write fails): they leave the feed's set then. A display that reconnects (EventSource does
by itself, after ``retry:``) gets the current list at once, so ``Last-Event-ID`` is not needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.booking.app import App
from bot.booking.calls import Called
from bot.errors import StorageError
from bot.infra.keys import CALLS_CHANNEL
from bot.infra.pubsub import Subscription

log = logging.getLogger(__name__)

PREFIX = "/display"
# Calls a display shows, newest first.
SHOWN_CALLS = 6
# A comment line this often on every stream (seconds).
HEARTBEAT_S = 15.0
# How long EventSource waits before reconnecting (ms).
RETRY_MS = 3000
DISPLAY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class DisplayFeed:
    """The calls every display of this process shows, and the displays connected, by office."""

    def __init__(self, app: App, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.app = app
        self.heartbeat_s = heartbeat_s
        self._subscription: Subscription | None = None
        # office -> (day, its latest calls newest first), trusted only while live.
        self._latest: dict[str, tuple[str, list[Called]]] = {}
        self._heard: dict[str, int] = {}
        self._loading: dict[str, asyncio.Task[list[Called]]] = {}
        self._displays: dict[str, set[asyncio.Event]] = {}

    @property
    def live(self) -> bool:
        return self._subscription is not None and self._subscription.live

    def start(self) -> None:
        """Subscribe (once; the first display's connection does it)."""
        if self._subscription is None:
            self._subscription = Subscription(
                self.app.redis, CALLS_CHANNEL, on_message=self._on_message, on_live=self._on_live
            )
            self._subscription.start()

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()
            self._subscription = None
        for task in self._loading.values():
            task.cancel()

    def displays(self, office_id: str | None = None) -> int:
        """How many displays are connected (to ``office_id``, or to any office)."""
        if office_id is not None:
            return len(self._displays.get(office_id, ()))
        return sum(len(d) for d in self._displays.values())

    def join(self, office_id: str, wake: asyncio.Event) -> None:
        self._displays.setdefault(office_id, set()).add(wake)

    def leave(self, office_id: str, wake: asyncio.Event) -> None:
        displays = self._displays.get(office_id)
        if displays is not None:
            displays.discard(wake)
            if not displays:
                del self._displays[office_id]

    def today(self, office_id: str) -> str:
        return self.app.at(office_id).office.local_today(self.app.clock.now()).isoformat()

    async def current(self, office_id: str) -> tuple[str, list[Called]]:
        """Today's latest calls of ``office_id`` (:data:`SHOWN_CALLS`), from memory while the
        subscription is live, else from Redis (one read shared by those asking at once)."""
        day = self.today(office_id)
        kept = self._latest.get(office_id)
        if kept is not None and kept[0] == day and self.live:
            return kept
        task = self._loading.get(office_id)
        if task is None:
            task = asyncio.create_task(self._load(office_id, day))
            self._loading[office_id] = task
            task.add_done_callback(lambda _: self._loading.pop(office_id, None))
        return day, await asyncio.shield(task)

    async def _load(self, office_id: str, day: str) -> list[Called]:
        heard = self._heard.get(office_id, 0)
        live = self.live
        calls = await self.app.at(office_id).desk.calls.latest(
            self.app.at(office_id).office.local_today(self.app.clock.now()), SHOWN_CALLS
        )
        # Kept only if no call was heard meanwhile (it may or may not be in what was read).
        if live and self.live and self._heard.get(office_id, 0) == heard:
            self._latest[office_id] = (day, calls)
        return calls

    def _on_message(self, raw: Any) -> None:
        try:
            call = Called.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("display feed: a call not understood: %r", raw)
            return
        office = call.office
        self._heard[office] = self._heard.get(office, 0) + 1
        kept = self._latest.get(office)
        if kept is not None:
            day, calls = kept
            if day != call.day:
                self._latest.pop(office, None)
            elif not calls or call.seq > calls[0].seq:
                self._latest[office] = (day, [call, *calls][:SHOWN_CALLS])
        self._wake(office)

    def _on_live(self, live: bool) -> None:
        # Whatever was kept may have missed calls: read again, and tell every display.
        self._latest.clear()
        if live:
            for office in list(self._displays):
                self._wake(office)

    def _wake(self, office_id: str) -> None:
        for wake in self._displays.get(office_id, ()):
            wake.set()


FEED_KEY = web.AppKey("display_feed", DisplayFeed)
PAGES_KEY = web.AppKey("display_pages", Environment)


def _office(request: web.Request) -> str:
    app = request.app[FEED_KEY].app
    office_id = request.match_info["office"]
    if office_id not in app.offices:
        raise web.HTTPNotFound(text="404: no such office", headers=DISPLAY_HEADERS)
    return office_id


def _event(day: str, calls: list[Called]) -> bytes:
    head = calls[0].seq if calls else 0
    data = json.dumps({"day": day, "calls": [c.shown() for c in calls]}, separators=(",", ":"))
    return f"id: {day}:{head}\nevent: calls\ndata: {data}\n\n".encode()


async def display_page(request: web.Request) -> web.StreamResponse:
    """GET /display/<office>: the page (the current calls already in it)."""
    office_id = _office(request)
    feed = request.app[FEED_KEY]
    app = feed.app
    locale = app.catalog.resolve_locale(request.query.get("lang"))
    try:
        day, calls = await feed.current(office_id)
    except StorageError as exc:
        log.warning("display: Redis unreachable: %s", exc)
        day, calls = feed.today(office_id), []

    def t(key: str, **params: Any) -> str:
        return app.catalog.t(locale, key, **params)

    body = (
        request.app[PAGES_KEY]
        .get_template("display.html")
        .render(
            t=t,
            lang=locale,
            office=app.at(office_id).office.name,
            events=f"{PREFIX}/{office_id}/events",
            calls=calls,
            counter_text=t("web.display_counter", counter="{counter}"),
            day=day,
        )
    )
    return web.Response(
        text=body, content_type="text/html", charset="utf-8", headers=DISPLAY_HEADERS
    )


async def display_events(request: web.Request) -> web.StreamResponse:
    """GET /display/<office>/events: the calls as server-sent events (see the module)."""
    office_id = _office(request)
    feed = request.app[FEED_KEY]
    feed.start()
    response = web.StreamResponse(
        headers={
            **DISPLAY_HEADERS,
            "Content-Type": "text/event-stream",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    wake = asyncio.Event()
    feed.join(office_id, wake)
    sent: tuple[str, int] | None = None
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        while True:
            try:
                day, calls = await feed.current(office_id)
            except StorageError as exc:
                log.warning("display: Redis unreachable: %s", exc)
            else:
                shown = (day, calls[0].seq if calls else 0)
                if shown != sent:
                    await response.write(_event(day, calls))
                    sent = shown
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(wake.wait(), feed.heartbeat_s)
            wake.clear()
            if not woken:
                await response.write(b": heartbeat\n\n")
    except (ConnectionResetError, ConnectionError):
        pass  # the display went away
    finally:
        feed.leave(office_id, wake)
    return response


def add_display_routes(web_app: web.Application, app: App) -> DisplayFeed:
    """Add ``/display/<office>`` and its event stream; the feed stops with the web app."""
    feed = DisplayFeed(app)
    web_app[FEED_KEY] = feed
    web_app[PAGES_KEY] = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        auto_reload=False,
    )
    web_app.router.add_get(PREFIX + "/{office}", display_page)
    web_app.router.add_get(PREFIX + "/{office}/events", display_events)

    async def stop(_: web.Application) -> None:
        await feed.stop()

    web_app.on_cleanup.append(stop)
    return feed
