"""The quota-opening burst (issue #7): 5,000 applicants, half on WhatsApp and half on Telegram,
race for the 500 seats of a day the moment its quota opens, over real webhooks.

Set-up (not timed). A private Redis, the tests' fake Telegram Bot API and fake WhatsApp Graph API
in this process on loopback, and N bot processes (``python -m bench.servers antrean ...
--graph-api-base ... --office ...``), each serving both webhooks, behind a round-robin "load
balancer" (this load generator picks the process of each request in turn). The bot processes
are built as in production, Redis client included (a pool of 200 connections per process that
makes a burst wait for one, bot/infra/redis.py). The office (:data:`BURST_OFFICE`) has exactly 500
seats on the day that opens (two windows of 250) and no other open day in reach. Five minutes
before the opening, every applicant is walked in process (an :class:`~bot.core.engine.Engine` on the
same Redis, settings and secret as the bot processes, replying into sinks) through start -> book
-> service -> the day's "join the pre-queue" option (``pre:<day>``), so that all 5,000 wait in
the pre-queue at step ``book.wait`` (bot/booking/release.py). One applicant in ten is a scalper
typing the NIK of another applicant; every NIK is structurally valid.

The burst (timed). Every bot process's clock is set one second past the opening and from then on
runs with real time (POST /bench/clock), then every applicant taps *Lanjut* ("go") at once, with
at most :data:`IN_FLIGHT` webhooks in flight. Each applicant reads the bot's answer back from the
fake platform and acts on it as a person would: the admitted (a seat held for them) type their
NIK and name and tap *yes*; the others are told the day is full and stop, except a few persistent
ones (1 in :data:`REFRESHER_EVERY`) who come back every :data:`REFRESH_S` seconds (menu -> book ->
service) until it is sold out: the seat of the second holder of a scalper's NIK, given back when
the bot refuses the NIK at confirmation, goes only to someone who asks for it. A webhook answered
other than 2xx is delivered again (the same update) after 1, 2, 4, 8 and 16 s, as the platforms
do.

Measured per run: seats sold and duplicate NIKs among them (read from Redis: the day's active
booking hashes, cross-checked with the seat counters), time from the first tap to the 500th
confirmed booking (as the applicants see it), webhooks (deliveries, repeated ones included),
webhooks/s and 2xx-answered webhooks/s over the burst (first tap to last answer), p50/p99 webhook
latency (each delivery, from request to response), non-2xx answers. Run with 1 and with 4 bot
processes (Redis flushed and everyone staged again in between).

Everything shares this machine: on 2 cores, the bot processes, Redis, the fakes and the load
generator compete for the same CPU, so more processes need not mean more throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import json
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp

from bench.common import nik, percentile, redis_server
from bench.dialog import Sink
from bench.servers import (
    SECRET,
    WEBHOOK_SECRET,
    WHATSAPP_APP_SECRET,
    WHATSAPP_PHONE_NUMBER_ID,
    WHATSAPP_TOKEN,
)
from bot.booking.app import LOCALE_DIR, App
from bot.booking.network import Network
from bot.booking.office import Office, parse_office
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from bot.core.i18n import Catalog
from bot.core.messages import Inbound
from bot.infra.embedded import free_port
from bot.infra.keys import OfficeKeys, prequeue
from bot.infra.redis import client_for
from bot.infra.settings import load_settings
from channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from channels.whatsapp.webhook import PATH as WHATSAPP_PATH
from handlers import build_steps
from tests.fake_graph import VERSION, FakeGraph, envelope, reply_message, text_message
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.web_support import run_server

APPLICANTS = 5_000
SEATS = 500
# One applicant in ten types another applicant's NIK (n % 20 is 9 or 18: both channels).
SCALPER_REMAINDERS = (9, 18)
# Webhooks in flight at once, all processes together. The platforms cap it: Telegram delivers a
# bot's updates over at most 40 simultaneous connections unless setWebhook's max_connections
# raises it (to 100 at most); Meta's webhooks to one endpoint are of the same order. Both
# platforms together: 100.
IN_FLIGHT = 100
PROCESS_COUNTS = (1, 4)
# Applicants who, told the day is full, come back every REFRESH_S seconds (at most
# REFRESH_TRIES times) until it is sold out: 1 in 250, both channels (n % 250 is 0 or 125).
REFRESHER_EVERY = 250
REFRESH_S = 2.0
REFRESH_TRIES = 30
# Staging, in process: applicants walked into the pre-queue at once.
STAGING_CONCURRENCY = 200
# Hard limits (seconds).
START_TIMEOUT_S = 40.0
BURST_TIMEOUT_S = 80.0
REQUEST_TIMEOUT_S = 30.0
TOTAL_TIMEOUT_S = 230.0  # both runs, staging included (python -m bench.burst)
# A refused webhook (non-2xx, or no answer) is delivered again after these pauses, as Telegram
# and Meta do (they go on for longer, less often).
REDELIVERY_S = (1.0, 2.0, 4.0, 8.0, 16.0)

SERVICE = "paspor-baru"
OPENING_DAY = date(2030, 3, 19)  # a Tuesday; its quota opens 14 days before, at 07:00 Jakarta
OFFICE_ID = "burst"
BURST_OFFICE = f"""
[office]
id = "{OFFICE_ID}"
name = "Burst office"
address = "Loopback"
timezone = "Asia/Jakarta"
public_holidays = false
# The Tuesday before is closed: the day that opens is the only one with seats.
closed_dates = [2030-03-12]

[booking]
days_ahead = 14
release_time = "07:00"
max_active_per_account = 1

[[services]]
id = "{SERVICE}"
prefix = "A"
names = {{ id = "Paspor baru", en = "New passport" }}
documents = {{ id = ["e-KTP asli"], en = ["Original e-KTP"] }}

[hours]
tue = [
  {{ start = "08:00", end = "10:00", seats = {SEATS // 2} }},
  {{ start = "10:00", end = "12:00", seats = {SEATS - SEATS // 2} }},
]
"""


# One delivery: (started, step, channel, seconds, HTTP status).
Record = tuple[float, str, str, float, int]
# The deliveries of the latest run with that many processes: (its start, Load.records).
LAST_RUN: dict[int, tuple[float, list[Record]]] = {}


def burst_office() -> Office:
    return parse_office(BURST_OFFICE, "burst office")


# -- applicants --------------------------------------------------------------------------------


@dataclass
class Applicant:
    n: int
    channel: str  # "telegram" | "whatsapp"
    user: str  # Telegram chat id or WhatsApp wa_id
    nik: str
    scalper: bool
    refresher: bool
    # The office they book at (its id), and what they type to choose it in a network.
    office: str = OFFICE_ID
    office_text: str = ""
    sent: int = 0
    # What happened: admitted | full | other (the answer to "go"), then booked, nik_taken, ...
    first: str = ""
    outcome: str = ""

    @property
    def identity(self) -> str:
        return f"{self.channel}:{self.user}"

    def next_id(self) -> int:
        self.sent += 1
        return self.n * 1000 + self.sent


def applicants(count: int = APPLICANTS, seed: int = 2030) -> list[Applicant]:
    """Even n on Telegram, odd n on WhatsApp; scalpers reuse a random honest applicant's NIK."""
    rng = random.Random(seed)
    honest = [n for n in range(count) if n % 20 not in SCALPER_REMAINDERS]
    people = []
    for n in range(count):
        scalper = n % 20 in SCALPER_REMAINDERS
        telegram = n % 2 == 0
        people.append(
            Applicant(
                n=n,
                channel="telegram" if telegram else "whatsapp",
                user=str(300_000 + n) if telegram else f"62812{n:08d}",
                nik=nik(rng.choice(honest)) if scalper else nik(n),
                scalper=scalper,
                refresher=n % REFRESHER_EVERY in (0, REFRESHER_EVERY // 2),
            )
        )
    return people


# -- staging, in process ------------------------------------------------------------------------


class WhatsAppSink(Sink):
    name = "whatsapp"


def release_instant(office: Office) -> datetime:
    return office.release_at(OPENING_DAY).astimezone(UTC)


async def stage(
    redis_url: str,
    people: list[Applicant],
    var: Path,
    *,
    network: Network | None = None,
    at: datetime | None = None,
    flush: bool = True,
    until: str = "pre-queue",
) -> float:
    """Walk everyone into the day's pre-queue of their office, at ``at`` (default: five minutes
    before the burst office opens); return seconds. ``network``: the offices (default: the burst
    office alone); in a network each applicant types ``office_text`` at the office question.
    ``flush``: empty Redis first. ``until``: ``"pre-queue"``, or only as far as the question
    ``"service"`` (which service)."""
    started = time.perf_counter()
    # More connections than redis-py's default 100: every walk may have a command in flight.
    client = client_for(redis_url, max_connections=4 * STAGING_CONCURRENCY)
    try:
        if flush:
            await client.flushall()
        network = network or Network([burst_office()])
        when = at or release_instant(burst_office()) - timedelta(minutes=5)
        the_clock = ManualClock(when)
        settings = load_settings(secret_key=SECRET, var_dir=var, rate_limit_per_minute=0)
        app = App.build(settings, client, clock=the_clock, network=network)
        prequeued = until == "pre-queue"
        for office in {person.office for person in people} if prequeued else set():
            if app.at(office).release.upcoming(the_clock.now()) != OPENING_DAY:
                raise RuntimeError(f"office {office} does not open the expected day")
        sinks: dict[str, Sink] = {"telegram": Sink(), "whatsapp": WhatsAppSink()}
        engine = Engine(app, build_steps(), sinks)
        gate = asyncio.Semaphore(STAGING_CONCURRENCY)

        async def walk(person: Applicant) -> None:
            steps: list[tuple[str, str | None]] = [
                ("start", None),
                ("", "book"),
                *([(person.office_text, None)] if person.office_text else []),
            ]
            if prequeued:
                steps += [("", SERVICE), ("", f"pre:{OPENING_DAY.isoformat()}")]
            async with gate:
                for text, option in steps:
                    message_id = f"stage-{person.next_id()}"
                    inbound = Inbound(
                        person.channel, person.user, message_id, text, option, locale_hint="id"
                    )
                    if await engine.handle(inbound) != "handled":
                        raise RuntimeError(f"staging: {person.identity} not handled")
                last = sinks[person.channel].last.get(person.user) or []
                if last != ["go"] if prequeued else SERVICE not in last:
                    raise RuntimeError(f"staging: {person.identity} is not where expected")

        await asyncio.gather(*(walk(person) for person in people))
        offices = Counter(person.office for person in people)
        for office, count in offices.items() if prequeued else ():
            key = prequeue(OfficeKeys(office), OPENING_DAY.isoformat(), SERVICE)
            waiting = await client.zcard(key)
            if waiting != count:
                raise RuntimeError(
                    f"staging: {waiting} in the pre-queue of {office}, expected {count}"
                )
    finally:
        await client.aclose()
    return time.perf_counter() - started


# -- what the fakes were sent -------------------------------------------------------------------


@dataclass
class Seen:
    """The bot's answer to one webhook, as the applicant's app shows it."""

    texts: list[str] = field(default_factory=list)
    # Option ids (callback data / reply ids) and titles of the last keyboard, buttons or list.
    options: list[tuple[str, str]] = field(default_factory=list)
    # Telegram: the id of the message carrying the keyboard (a tap names it).
    keyboard_id: int = 0
    images: int = 0

    @property
    def ids(self) -> list[str]:
        return [option for option, _ in self.options]

    def says(self, fragment: str) -> bool:
        return any(fragment in text for text in self.texts)

    def asks(self, prompt: str) -> bool:
        return bool(self.texts) and not self.options and self.texts[-1].endswith(prompt)


class Outbox:
    """What the fake platforms received, per recipient, indexed as it grows (appends only)."""

    def __init__(self, telegram: FakeTelegram, graph: FakeGraph) -> None:
        self.telegram = telegram
        self.graph = graph
        self._telegram_done = 0
        self._graph_done = 0
        self.by_user: dict[str, list[tuple[str, dict[str, Any], Any]]] = {}

    def _sync(self) -> None:
        calls = self.telegram.calls
        for call in calls[self._telegram_done :]:
            if call.method in ("sendMessage", "sendPhoto"):
                key = f"telegram:{call.params.get('chat_id')}"
                self.by_user.setdefault(key, []).append((call.method, call.params, call.result))
        self._telegram_done = len(calls)
        requests = self.graph.requests
        for request in requests[self._graph_done :]:
            body = request.get("json")
            if body is not None and request["path"].endswith("/messages"):
                key = f"whatsapp:{body.get('to')}"
                self.by_user.setdefault(key, []).append(("message", body, request.get("id")))
        self._graph_done = len(requests)

    def count(self, identity: str) -> int:
        self._sync()
        return len(self.by_user.get(identity, ()))

    def since(self, identity: str, start: int) -> Seen:
        self._sync()
        seen = Seen()
        for kind, params, result in self.by_user.get(identity, [])[start:]:
            if kind == "sendPhoto":
                seen.images += 1
                seen.texts.append(str(params.get("caption", "")))
            elif kind == "sendMessage":
                seen.texts.append(str(params.get("text", "")))
                rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
                buttons = [b for row in rows for b in row]
                if buttons and isinstance(result, dict):
                    seen.options = [(b["callback_data"], b["text"]) for b in buttons]
                    seen.keyboard_id = int(result["message_id"])
            elif params.get("type") == "text":
                seen.texts.append(params["text"]["body"])
            elif params.get("type") == "image":
                seen.images += 1
                seen.texts.append(params["image"].get("caption", ""))
            elif params.get("type") == "interactive":
                interactive = params["interactive"]
                seen.texts.append(interactive["body"]["text"])
                if interactive["type"] == "button":
                    buttons = interactive["action"]["buttons"]
                    seen.options = [(b["reply"]["id"], b["reply"]["title"]) for b in buttons]
                elif interactive["type"] == "list":
                    rows = interactive["action"]["sections"][0]["rows"]
                    seen.options = [(row["id"], row["title"]) for row in rows]
                # (a location_request_message offers no options)
        return seen


# -- the burst ----------------------------------------------------------------------------------


@dataclass
class BurstResult:
    processes: int
    applicants: int
    seats: int
    sold: int
    duplicate_niks: int
    # From the opening to the 500th confirmed booking; None if it never sold out.
    sell_out_s: float | None
    webhooks: int
    burst_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    staging_s: float
    # Detail: the answers to "go", scalpers refused, seats sold again, counters' view.
    admitted: int = 0
    told_full: int = 0
    nik_refused: int = 0
    resold: int = 0
    confirmed_seen: int = 0
    counter_booked: int = 0
    duplicate_accounts: int = 0
    bot_cpu_s: float = 0.0
    redelivered: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    p99_by_kind: dict[str, float] = field(default_factory=dict)
    p99_by_channel: dict[str, float] = field(default_factory=dict)
    # The bot processes' most frequent log lines, with their counts.
    bot_log: list[str] = field(default_factory=list)
    refusals: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Seats sold per office (read from Redis).
    sold_by_office: dict[str, int] = field(default_factory=dict)

    @property
    def webhooks_per_s(self) -> float:
        return self.webhooks / self.burst_s if self.burst_s else 0.0

    @property
    def handled_per_s(self) -> float:
        """Webhooks answered 2xx per second: deliveries refused (and repeated) left out."""
        return (self.webhooks - self.non_2xx) / self.burst_s if self.burst_s else 0.0


class Markers:
    """Fragments of the bot's Indonesian texts that tell the applicant where they stand."""

    def __init__(self) -> None:
        catalog = Catalog.load(LOCALE_DIR, default="id")

        def head(key: str) -> str:
            return catalog.t("id", key).split("{")[0]

        self.nik = catalog.t("id", "book.nik")
        self.name = catalog.t("id", "book.name")
        self.held = head("book.held")
        self.full = head("release.full")
        self.done = head("book.done")
        self.nik_taken = catalog.t("id", "book.nik_taken")
        # The same refusal, said as soon as the NIK is typed.
        self.nik_elsewhere = head("book.nik_elsewhere")
        self.go = catalog.t("id", "release.go")
        # In a network: which office (the applicant types its name).
        self.office = head("office.prompt")
        # The bot asking again: a NIK or name it refused, an option it does not offer.
        keys = [f"nik.{k}" for k in ("digits", "length", "province", "region", "birthdate")]
        keys += ["nik.serial", "name.empty", "name.too_long", "name.letters", "name.characters"]
        keys += ["name.address", "option.stale", "option.unknown"]
        self.refusals = tuple(head(key) for key in keys)


class Load:
    """The load generator's side of one run: webhooks out, round-robin over the processes."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        bases: list[str],
        outbox: Outbox,
        in_flight: int,
    ) -> None:
        self.http = http
        self.bases = bases
        self.outbox = outbox
        self.gate = asyncio.Semaphore(in_flight)
        self.turn = 0
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.last_answer = 0.0
        # Webhooks by what the applicant did, and deliveries repeated after a refusal.
        self.kinds: Counter[str] = Counter()
        self.redelivered = 0
        self.by_kind: dict[str, list[float]] = {}
        # Every delivery: (started, step, channel, seconds, HTTP status), for a closer look.
        self.records: list[Record] = []

    def absorb(self, other: Load) -> None:
        """Count ``other``'s deliveries as this one's too (a run of several phases)."""
        self.latencies += other.latencies
        self.statuses += other.statuses
        self.errors += other.errors
        self.last_answer = max(self.last_answer, other.last_answer)
        self.kinds.update(other.kinds)
        self.redelivered += other.redelivered
        for kind, latencies in other.by_kind.items():
            self.by_kind.setdefault(kind, []).extend(latencies)
        self.records += other.records

    async def post(
        self, kind: str, person: Applicant, update: dict[str, Any] | None, raw: bytes
    ) -> Seen:
        """One webhook (Telegram ``update`` or WhatsApp signed ``raw`` envelope) and the answer
        it got. Like the platforms, deliver it again (the same update) while it is refused."""
        before = self.outbox.count(person.identity)
        for delay in (*REDELIVERY_S, None):
            self.kinds[kind] += 1
            base = self.bases[self.turn % len(self.bases)]
            self.turn += 1
            async with self.gate:
                started = time.perf_counter()
                try:
                    if update is not None:
                        headers = {SECRET_HEADER: WEBHOOK_SECRET}
                        request = self.http.post(base + WEBHOOK_PATH, json=update, headers=headers)
                    else:
                        headers = signed(raw)
                        request = self.http.post(base + WHATSAPP_PATH, data=raw, headers=headers)
                    async with request as response:
                        answer = await response.read()
                        status = response.status
                        if update is not None and response.content_type == "application/json":
                            # The Bot API call a webhook answer carries: Telegram makes it.
                            self.outbox.telegram.webhook_reply(json.loads(answer))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = 0
                    if len(self.errors) < 5:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                finished = time.perf_counter()
            self.latencies.append((finished - started) * 1000)
            self.by_kind.setdefault(kind, []).append((finished - started) * 1000)
            self.records.append((started, kind, person.channel, finished - started, status))
            self.statuses.append(status)
            self.last_answer = max(self.last_answer, finished)
            if 200 <= status < 300:
                return self.outbox.since(person.identity, before)
            if delay is not None:
                self.redelivered += 1
                await asyncio.sleep(delay)
        return Seen()

    async def tap(
        self, kind: str, person: Applicant, option: str, seen: Seen | None, title: str = ""
    ) -> Seen:
        """Tap the button (or list row) ``option`` of the last answer ``seen``."""
        if person.channel == "telegram":
            update_id = person.next_id()
            message_id = seen.keyboard_id if seen is not None and seen.keyboard_id else 1
            update = callback(update_id, person, option, message_id)
            return await self.post(kind, person, update, b"")
        offered = dict(seen.options) if seen is not None else {}
        reply = "button_reply" if len(offered) <= 3 else "list_reply"
        title = offered.get(option, title or option)
        message = reply_message(person.user, reply, option, title, whatsapp_id(person))
        return await self.post(kind, person, None, whatsapp_body(message))

    async def type(self, kind: str, person: Applicant, text: str) -> Seen:
        if person.channel == "telegram":
            update = text_update(person.next_id(), person, text)
            return await self.post(kind, person, update, b"")
        message = text_message(person.user, text, whatsapp_id(person))
        return await self.post(kind, person, None, whatsapp_body(message))


def whatsapp_id(person: Applicant) -> str:
    return f"wamid.burst.{person.user}.{person.next_id()}"


def whatsapp_body(message: dict[str, Any]) -> bytes:
    return json.dumps(envelope([message], phone_number_id=WHATSAPP_PHONE_NUMBER_ID)).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def telegram_user(person: Applicant) -> dict[str, Any]:
    chat = int(person.user)
    return {"id": chat, "is_bot": False, "first_name": "Pemohon", "language_code": "id"}


def text_update(update_id: int, person: Applicant, text: str) -> dict[str, Any]:
    chat = int(person.user)
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_900_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Pemohon"},
            "from": telegram_user(person),
            "text": text,
        },
    }


def callback(update_id: int, person: Applicant, data: str, message_id: int) -> dict[str, Any]:
    chat = int(person.user)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": telegram_user(person),
            "chat_instance": str(chat),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 1_900_000_000,
                "chat": {"id": chat, "type": "private", "first_name": "Pemohon"},
                "text": "…",
            },
        },
    }


@dataclass
class Race:
    """Shared by the applicants of one run. ``seats``: each office's seats on the day."""

    load: Load
    markers: Markers
    seats: dict[str, int]
    started: float = 0.0
    confirmed_at: list[float] = field(default_factory=list)
    confirmed: Counter[str] = field(default_factory=Counter)
    sold_out: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sold_out = {office: asyncio.Event() for office in self.seats}

    def booked(self, person: Applicant) -> None:
        person.outcome = "booked"
        self.confirmed_at.append(time.perf_counter() - self.started)
        self.confirmed[person.office] += 1
        if self.confirmed[person.office] >= self.seats[person.office]:
            self.sold_out[person.office].set()


MAX_STEPS = 12 + 3 * REFRESH_TRIES
FIRST_NAMES = ("Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Putri", "Eko", "Sri", "Andi")
LAST_NAMES = ("Santoso", "Wijaya", "Lestari", "Hidayat", "Nugroho", "Saputra", "Rahayu")


def full_name(n: int) -> str:
    return f"{FIRST_NAMES[n % 10]} {LAST_NAMES[n // 10 % 7]}"


WINDOWS = ("0800-1000", "1000-1200")


async def applicant(person: Applicant, race: Race) -> None:
    """Tap "go", then answer whatever the bot asks, as a person following the buttons would."""
    load, mark, day = race.load, race.markers, OPENING_DAY.isoformat()
    seen = await load.tap("go", person, "go", None, mark.go)
    person.first = "admitted" if seen.says(mark.held) else "full" if seen.says(mark.full) else "?"
    refreshes = 0
    for _ in range(MAX_STEPS):
        if any(seen.says(refusal) for refusal in mark.refusals):
            # The bot did not take the answer (a mistake of this generator): give up.
            person.outcome = "stuck"
            return
        if seen.says(mark.done):
            race.booked(person)
            return
        if seen.says(mark.nik_elsewhere):
            person.outcome = "nik_taken"
            return
        if "yes" in seen.ids:
            seen = await load.tap("confirm", person, "yes", seen)
        elif seen.asks(mark.nik):
            seen = await load.type("NIK", person, person.nik)
        elif seen.asks(mark.name):
            seen = await load.type("name", person, full_name(person.n))
        elif day in seen.ids:
            seen = await load.tap("refresh: day", person, day, seen)
        elif window := next((w for w in WINDOWS if w in seen.ids), None):
            seen = await load.tap("refresh: window", person, window, seen)
        elif SERVICE in seen.ids:
            seen = await load.tap("refresh: service", person, SERVICE, seen)
        elif person.office_text and seen.says(mark.office):
            seen = await load.type("refresh: office", person, person.office_text)
        else:
            # A dead end: the day is full, this NIK has a booking, or something else.
            if seen.says(mark.nik_taken):
                person.outcome = "nik_taken"
                return
            person.outcome = person.outcome or ("full" if seen.says(mark.full) else "stopped")
            if not person.refresher or "book" not in seen.ids or refreshes >= REFRESH_TRIES:
                return
            refreshes += 1
            sold_out = race.sold_out[person.office]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sold_out.wait(), REFRESH_S)
            if sold_out.is_set():
                return
            seen = await load.tap("refresh: book", person, "book", seen)
    person.outcome = "too many steps"


# -- processes ----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when this process dies (Linux), so that no bot
    process outlives a killed benchmark."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.asynccontextmanager
async def bot_processes(
    count: int,
    redis_url: str,
    telegram_base: str,
    graph_base: str,
    server_args: Sequence[str],
    logs: list[str],
) -> AsyncIterator[list[str]]:
    """``count`` bot processes, each serving both webhooks; yields their base URLs.
    ``server_args``: the office's (``--office FILE`` or ``--offices FOLDER``). What they log
    (stderr) is appended to ``logs`` once they are stopped."""
    ports = [free_port() for _ in range(count)]
    children: list[asyncio.subprocess.Process] = []
    with TemporaryDirectory() as tmp:
        log_files = [(Path(tmp) / f"bot-{port}.log").open("w+b") for port in ports]
        try:
            for port, log_file in zip(ports, log_files, strict=True):
                children.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.servers",
                        "antrean",
                        str(port),
                        redis_url,
                        telegram_base,
                        "--graph-api-base",
                        graph_base,
                        *server_args,
                        stdout=log_file,
                        stderr=log_file,
                        preexec_fn=_die_with_parent,
                    )
                )
            yield [f"http://127.0.0.1:{port}" for port in ports]
        finally:
            for child in children:
                if child.returncode is None:
                    child.terminate()
            for child in children:
                try:
                    await asyncio.wait_for(child.wait(), 10)
                except TimeoutError:
                    child.kill()
                    await child.wait()
            for log_file in log_files:
                log_file.seek(0)
                logs += log_file.read().decode(errors="replace").splitlines()
                log_file.close()


def summarize_logs(lines: list[str], top: int = 5) -> list[str]:
    """The bot processes' most frequent log lines (numbers masked), with their counts."""
    counts = Counter(re.sub(r"\d+", "N", line) for line in lines if line and not line[0].isspace())
    return [f"{n:,} x {line[:160]}" for line, n in counts.most_common(top)]


async def wait_ready(http: aiohttp.ClientSession, bases: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for base in bases:
        while True:
            try:
                async with http.get(base + "/bench/stats") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"bot process {base} did not start in {START_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.1)


async def bot_cpu(http: aiohttp.ClientSession, bases: list[str]) -> float:
    total = 0.0
    for base in bases:
        async with http.get(base + "/bench/stats") as response:
            total += float((await response.json())["cpu"])
    return total


async def start_clocks(http: aiohttp.ClientSession, bases: list[str], when: datetime) -> None:
    """Every process's clock to ``when``, going on with real time from there."""
    for base in bases:
        body = {"at": when.isoformat(), "running": True}
        async with http.post(base + "/bench/clock", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"{base}: could not move the clock ({response.status})")


async def warm_up(load: Load, processes: int) -> None:
    """A few people outside the race open the menu on every process and channel: imports,
    scripts and connections to the fakes are ready before the opening."""
    for k in range(2 * processes):
        for telegram in (True, False):
            n = 900_000 + k
            person = Applicant(
                n=n,
                channel="telegram" if telegram else "whatsapp",
                user=str(n) if telegram else f"62899{n:08d}",
                nik=nik(0),
                scalper=False,
                refresher=False,
            )
            seen = await load.type("warm-up", person, "halo")
            await load.tap("warm-up", person, "docs", seen)


# -- verification -------------------------------------------------------------------------------


async def verify(
    redis_url: str, result: BurstResult, offices: Sequence[str] = (OFFICE_ID,)
) -> None:
    """Seats sold (per office) and duplicate NIKs and accounts among them (across the offices),
    from the booking hashes and the seat counters in Redis."""
    client = client_for(redis_url)
    try:
        sold: list[dict[str, str]] = []
        result.counter_booked = 0
        for office in offices:
            keys = OfficeKeys(office)
            names = [k async for k in client.scan_iter(match=keys.booking("*"), count=1000)]
            bookings: list[dict[str, str]] = [
                await client.hgetall(name)  # type: ignore[misc]
                for name in names
            ]
            here = [
                b
                for b in bookings
                if b.get("day") == OPENING_DAY.isoformat() and b.get("status") == "active"
            ]
            result.sold_by_office[office] = len(here)
            sold += here
            counters = await client.hgetall(keys.day(OPENING_DAY.isoformat(), SERVICE))
            result.counter_booked += sum(
                int(v) for k, v in counters.items() if str(k).startswith("booked:")
            )
        result.sold = len(sold)
        result.duplicate_niks = len(sold) - len({b["nik_hash"] for b in sold})
        result.duplicate_accounts = len(sold) - len({b["account"] for b in sold})
    finally:
        await client.aclose()


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Rig:
    """One run's fakes, bot processes and the load generator's HTTP session."""

    http: aiohttp.ClientSession
    bases: list[str]
    telegram: FakeTelegram
    graph: FakeGraph
    in_flight: int
    # What the bot processes logged: filled once they are stopped.
    logs: list[str]

    def load(self) -> Load:
        return Load(self.http, self.bases, Outbox(self.telegram, self.graph), self.in_flight)


@contextlib.asynccontextmanager
async def rig(
    processes: int,
    redis_url: str,
    server_args: Sequence[str],
    in_flight: int = IN_FLIGHT,
) -> AsyncIterator[Rig]:
    """The fakes and ``processes`` bot processes (``server_args``: see :func:`bot_processes`),
    started and warmed up."""
    telegram = FakeTelegram(token=TOKEN)
    graph = FakeGraph(phone_number_id=WHATSAPP_PHONE_NUMBER_ID, token=WHATSAPP_TOKEN)
    logs: list[str] = []
    async with (
        run_server(telegram.app()) as telegram_base,
        run_server(graph.app()) as graph_url,
        bot_processes(
            processes, redis_url, telegram_base, f"{graph_url}/{VERSION}", server_args, logs
        ) as bases,
    ):
        connector = aiohttp.TCPConnector(limit=in_flight, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            await wait_ready(http, bases)
            ready = Rig(http, bases, telegram, graph, in_flight, logs)
            await warm_up(ready.load(), processes)
            yield ready


@dataclass
class Phase:
    """One timed race: first tap to last answer, the bot processes' CPU meanwhile, and what
    went wrong on the applicants' side."""

    burst_s: float
    cpu_s: float
    errors: list[str]


async def race_from(
    the_rig: Rig,
    race: Race,
    people: Sequence[Applicant],
    when: datetime,
    act: Callable[[Applicant, Race], Awaitable[None]] | None = None,
    limit_s: float = BURST_TIMEOUT_S,
) -> Phase:
    """Every bot process's clock to ``when`` (running), then ``people`` all at once: each one
    does ``act`` (default: :func:`applicant`), for at most ``limit_s`` seconds."""
    act = act or applicant
    http, bases = the_rig.http, the_rig.bases
    await start_clocks(http, bases, when)
    cpu_before = await bot_cpu(http, bases)
    race.started = time.perf_counter()
    tasks = [asyncio.ensure_future(act(person, race)) for person in people]
    try:
        done, pending = await asyncio.wait(tasks, timeout=limit_s)
    finally:
        # Also when this run is cancelled (a total time limit): no applicant outlives it.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    burst_s = max(race.load.last_answer, race.started) - race.started
    cpu = await bot_cpu(http, bases) - cpu_before
    errors = []
    if pending:
        errors.append(f"{len(pending)} applicants still going after {limit_s:.0f} s")
    stuck = Counter(p.outcome for p in people if p.outcome in ("stuck", "too many steps"))
    errors += [f"{n} applicants ended {outcome!r}" for outcome, n in stuck.items()]
    for task in done:
        if task.exception() is not None:
            errors.append(f"applicant failed: {task.exception()!r}")
            break
    return Phase(burst_s, cpu, errors)


def result_of(
    processes: int,
    people: Sequence[Applicant],
    load: Load,
    confirmed_at: list[float],
    seats: int,
    phase: Phase,
    staging_s: float,
    logs: list[str],
) -> BurstResult:
    """What a run's applicants and deliveries add up to (Redis not read yet: :func:`verify`)."""
    confirmed = sorted(confirmed_at)
    return BurstResult(
        processes=processes,
        applicants=len(people),
        seats=seats,
        sold=0,
        duplicate_niks=0,
        sell_out_s=confirmed[seats - 1] if len(confirmed) >= seats else None,
        webhooks=len(load.statuses),
        burst_s=phase.burst_s,
        p50_ms=percentile(load.latencies, 50),
        p99_ms=percentile(load.latencies, 99),
        non_2xx=sum(1 for s in load.statuses if not 200 <= s < 300),
        staging_s=staging_s,
        admitted=sum(1 for p in people if p.first == "admitted"),
        told_full=sum(1 for p in people if p.first == "full"),
        nik_refused=sum(1 for p in people if p.outcome == "nik_taken"),
        resold=sum(1 for p in people if p.outcome == "booked" and p.first != "admitted"),
        confirmed_seen=len(confirmed),
        bot_cpu_s=phase.cpu_s,
        redelivered=load.redelivered,
        bot_log=summarize_logs(logs),
        kinds=dict(load.kinds),
        p99_by_kind={k: percentile(v, 99) for k, v in load.by_kind.items()},
        p99_by_channel={
            channel: percentile([r[3] * 1000 for r in load.records if r[2] == channel], 99)
            for channel in ("telegram", "whatsapp")
        },
        refusals=dict(Counter(s for s in load.statuses if not 200 <= s < 300)),
        errors=list(load.errors) + phase.errors,
    )


def check(result: BurstResult, people: Sequence[Applicant]) -> None:
    """What the applicants saw against what Redis holds, once :func:`verify` has read it."""
    unanswered = sum(1 for p in people if p.first == "?")
    if unanswered:
        result.errors.append(f"{unanswered} applicants got no usable answer to their tap on go")
    if result.duplicate_accounts:
        result.errors.append(f"{result.duplicate_accounts} accounts with two bookings")
    if result.counter_booked != result.sold:
        result.errors.append(
            f"the seat counters say {result.counter_booked} booked, the bookings {result.sold}"
        )
    if result.confirmed_seen != result.sold:
        result.errors.append(
            f"{result.confirmed_seen} applicants saw their booking confirmed, "
            f"{result.sold} bookings in Redis"
        )


async def run(
    processes: int,
    redis_url: str,
    office_file: Path,
    var: Path,
    in_flight: int = IN_FLIGHT,
    count: int = APPLICANTS,
    bot_redis_options: str = "",
) -> BurstResult:
    """One burst. ``bot_redis_options``: a query string added to the bot processes' Redis URL
    (redis-py reads pool options there, e.g. ``max_connections=1000``); empty: as in
    production."""
    people = applicants(count)
    staging_s = await stage(redis_url, people, var)
    bot_url = f"{redis_url}?{bot_redis_options}" if bot_redis_options else redis_url
    async with rig(processes, bot_url, ["--office", str(office_file)], in_flight) as the_rig:
        load = the_rig.load()
        race = Race(load, Markers(), {OFFICE_ID: SEATS})
        opening = release_instant(burst_office()) + timedelta(seconds=1)
        phase = await race_from(the_rig, race, people, opening)
    result = result_of(
        processes, people, load, race.confirmed_at, SEATS, phase, staging_s, the_rig.logs
    )
    await verify(redis_url, result)
    check(result, people)
    LAST_RUN[processes] = (race.started, load.records)
    return result


async def compare(
    process_counts: Sequence[int] = PROCESS_COUNTS,
    in_flight: int = IN_FLIGHT,
    count: int = APPLICANTS,
    bot_redis_options: str = "",
) -> list[BurstResult]:
    results = []
    with redis_server() as server, TemporaryDirectory() as tmp:
        office_file = Path(tmp) / "burst-office.toml"
        office_file.write_text(BURST_OFFICE)
        for processes in process_counts:
            results.append(
                await run(
                    processes,
                    server.url,
                    office_file,
                    Path(tmp),
                    in_flight,
                    count,
                    bot_redis_options,
                )
            )
    return results


# -- report -------------------------------------------------------------------------------------


def targets(results: list[BurstResult]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of issue #7's targets."""
    rows: list[tuple[str, str, bool]] = []
    for r in results:
        sold = f"exactly {r.seats} seats sold ({r.processes} proc.)"
        rows.append((sold, str(r.sold), r.sold == r.seats))
        duplicates = f"0 duplicate NIKs among them ({r.processes} proc.)"
        rows.append((duplicates, str(r.duplicate_niks), r.duplicate_niks == 0))
    one = next((r for r in results if r.processes == 1), None)
    if one is not None:
        p99 = f"{one.p99_ms:,.0f} ms"
        rows.append(("p99 webhook latency < 1 s (1 proc.)", p99, one.p99_ms < 1000))
    many = max(results, key=lambda r: r.processes)
    if one is not None and many is not one:
        ratio = many.handled_per_s / one.handled_per_s if one.handled_per_s else 0.0
        grows = f"throughput (2xx webhooks/s) grows with processes ({many.processes} vs 1)"
        rows.append((grows, f"x{ratio:.2f}", ratio > 1.0))
    return rows


def report(results: list[BurstResult]) -> str:
    lines = [
        "| processes | applicants | seats sold | duplicate NIKs | time to sell out (s) "
        "| webhooks | webhooks/s | 2xx webhooks/s | p50 ms | p99 ms | non-2xx |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        sell_out = f"{r.sell_out_s:.2f}" if r.sell_out_s is not None else "not sold out"
        lines.append(
            f"| {r.processes} | {r.applicants:,} | {r.sold} | {r.duplicate_niks} | {sell_out} | "
            f"{r.webhooks:,} | {r.webhooks_per_s:,.0f} | {r.handled_per_s:,.0f} | "
            f"{r.p50_ms:,.0f} | {r.p99_ms:,.0f} | {r.non_2xx:,} |"
        )
    one = next((r for r in results if r.processes == 1), None)
    for r in results:
        if one is not None and r is not one and one.webhooks_per_s and one.handled_per_s:
            lines.append(
                f"| **{r.processes} vs 1** | | | | | | "
                f"x{r.webhooks_per_s / one.webhooks_per_s:.2f} | "
                f"x{r.handled_per_s / one.handled_per_s:.2f} | | | |"
            )
    lines += [
        "",
        "| processes | admitted from the pre-queue | told full | scalpers refused at confirm "
        "| seats sold again | bookings seen by applicants | seat counter | bot CPU s "
        "| burst s | staging s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.processes} | {r.admitted} | {r.told_full} | {r.nik_refused} | {r.resold} | "
            f"{r.confirmed_seen} | {r.counter_booked} | {r.bot_cpu_s:.1f} | {r.burst_s:.1f} | "
            f"{r.staging_s:.1f} |"
        )
    for r in results:
        kinds = ", ".join(
            f"{kind} {n:,} (p99 {r.p99_by_kind.get(kind, 0):,.0f} ms)"
            for kind, n in r.kinds.items()
        )
        refused = ", ".join(f"HTTP {code or 'none'}: {n:,}" for code, n in r.refusals.items())
        channels = ", ".join(f"{c} {ms:,.0f} ms" for c, ms in r.p99_by_channel.items())
        lines.append(
            f"\n{r.processes} proc.: p99 by channel: {channels}. "
            f"Webhooks by step: {kinds}. Refused: {refused or 'none'}; "
            f"delivered again after a refusal: {r.redelivered:,}. Bot log: "
            + ("; ".join(f"`{line}`" for line in r.bot_log) or "nothing")
            + "."
        )
    lines += ["", "| target | measured | met |", "| --- | ---: | --- |"]
    for name, measured, met in targets(results):
        lines.append(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
    problems = [f"{r.processes} proc.: {e}" for r in results for e in r.errors]
    if problems:
        lines += ["", "Problems:", *(f"- {p}" for p in problems)]
    return "\n".join(lines)


if __name__ == "__main__":
    wall = time.perf_counter()
    print(report(asyncio.run(asyncio.wait_for(compare(), TOTAL_TIMEOUT_S))))
    print(f"\nwall time {time.perf_counter() - wall:.0f} s")
