"""The waiting-room display under load: 50 displays and 20 counters on one web process.

    python -m bench.display [--seconds 60] [--displays 50] [--interval 2] [--day-hours 8]

Starts a private Redis and one web process as ``antrean run`` builds it (bench/counter.py's:
the staff pages behind their guard, the display routes, frozen heap), standing at a Monday
08:00 in Jakarta. Books and checks in enough applicants for the run straight through the desk,
opens ``--displays`` event streams (``/display/<office>/events``, as EventSource does), signs
20 counter officers in, then for ``--seconds`` each counter calls next (POST
/staff/loket/panggil) and marks the applicant served, one call every ``--interval`` seconds.

The run is an office day compressed. 20 counters calling every 2 s for 60 s make 600 calls, the
day of the counter benchmark's 600 bookings, at ten calls a second (a real counter calls about
once in five minutes). A display shows the newest six calls: a stream stalled while more than six
calls are made skips the older ones, by design (at 40 calls a second, ``--interval 0.5``, a
make bench run lost 1,375 of 119,050 that way to stalls of up to 314 ms). A heartbeat goes out
when a stream has been quiet for its interval, so the web process beats every 5 ms instead of
the shipped 15 s, and after the calls the run stays quiet until every display has read the
heartbeats of a ``--day-hours`` day (1,920 in 8 hours), then reads the memory once more.

Prints the delivery time of each call to each display (from the call's POST being sent to the
event carrying it read by the display: p50/p99/max), how many calls every display saw, and the
web process's memory (VmRSS) idle, with the displays connected before the calls, after each
quarter of the run and at the end. The targets (``make bench`` runs it): no call missed by
any display, and no growth of memory once the run is under way (the first quarter to the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp
import redis.asyncio as aioredis

from bench.common import Row, bench_office, clock, redis_server, targets_table
from bench.counter import COUNTERS, STAFF, Counter, line, settings_for
from bot.booking.app import App
from bot.booking.seats import number_plan
from bot.infra.embedded import free_port
from bot.web.display import HEARTBEAT_S

# Growth of the web process's memory over the run that counts as growth (KiB): allocator noise
# stays well under it, a per-call or per-heartbeat leak over 600 calls and 1,920 heartbeats
# of 50 displays does not.
GROWTH_LIMIT_KIB = 1024
# The heartbeat of the web process under this benchmark (seconds), and how long the quiet end of
# the run may take at most to read a day's heartbeats.
QUICK_HEARTBEAT_S = 0.005
QUIET_TIMEOUT_S = 60.0


def stage(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    return 0


class Display:
    """One display's event stream: when it first saw each queue number."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.seen: dict[str, float] = {}
        self.events = 0
        self.heartbeats = 0
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with self.http.get(self.url, timeout=aiohttp.ClientTimeout(total=None)) as r:
            data = ""
            async for raw in r.content:
                text = raw.decode().rstrip("\n")
                if text.startswith(":"):
                    self.heartbeats += 1
                elif text.startswith("data: "):
                    data = text[6:]
                elif text == "" and data:
                    now = time.perf_counter()
                    self.events += 1
                    for call in json.loads(data)["calls"]:
                        self.seen.setdefault(call["number"], now)
                    data = ""
                    self.ready.set()


@dataclass
class DisplayResult:
    """What :func:`bench` measured."""

    displays: int
    seconds: float
    interval: float
    day_hours: float
    calls: int
    missed: int
    events: int
    heartbeats: int  # the fewest any display read
    day_heartbeats: int  # a day's at the shipped interval
    delivery: list[float]  # ms, call POST sent -> event read, for every display
    posts: list[float]  # ms, call-next POSTs
    rss_idle: int  # KiB
    rss_start: int
    rss_quarters: list[int]
    rss_end: int

    @property
    def growth_kib(self) -> int:
        """RSS at the end less at the first quarter (the warm-up of the first calls aside)."""
        return self.rss_end - (self.rss_quarters[0] if self.rss_quarters else self.rss_start)


async def bench(
    seconds: float = 60.0, displays: int = 50, interval: float = 2.0, day_hours: float = 8.0
) -> DisplayResult:
    calls_wanted = int(seconds / interval * COUNTERS * 1.2) + COUNTERS
    day_heartbeats = int(day_hours * 3600 / HEARTBEAT_S)
    with redis_server() as server, TemporaryDirectory() as var:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.counter", "serve", str(port), server.url),
            str(QUICK_HEARTBEAT_S),
        )
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        sessions: list[aiohttp.ClientSession] = []
        streams: list[asyncio.Task[None]] = []
        try:
            app = App.build(
                settings_for(server.url, Path(var)), client, clock=clock(), office=bench_office()
            )
            office = app.office
            day = office.local_today(app.clock.now())
            service = office.services[0]
            windows = office.windows(day)
            window = windows[0]
            capacity = window.capacity(service.id)
            plan = number_plan(windows, service.id)

            async def book_and_check_in(n: int) -> None:
                booking_id = app.codes.new_id()
                await app.seats.confirm(
                    hold_id=booking_id,
                    day=day,
                    service=service.id,
                    window=window.id,
                    default_capacity=capacity,
                    prefix=service.prefix,
                    account=f"console:applicant{n}",
                    max_active=1,
                    nik_hash=f"nik-{booking_id}",
                    nik_last4="0000",
                    name=f"Pemohon {n}",
                    locale="id",
                    windows=plan,
                )
                await app.desk.counter.check_in(booking_id, staff="console:bench")

            stage(f"booking and checking in {calls_wanted} applicants")
            for first in range(0, calls_wanted, 100):
                batch = range(first, min(first + 100, calls_wanted))
                await asyncio.gather(*(book_and_check_in(n) for n in batch))
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    async with aiohttp.ClientSession() as probe, probe.get(f"{base}/healthz"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            rss_idle = rss_kib(process.pid)
            stage(f"opening {displays} displays")
            watchers = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            sessions.append(watchers)
            screens = [
                Display(watchers, f"{base}/display/{office.id}/events") for _ in range(displays)
            ]
            streams = [asyncio.create_task(s.run()) for s in screens]
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in screens)), 30)
            rss_start = rss_kib(process.pid)
            for _ in range(COUNTERS):
                sessions.append(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
            counters = [Counter(s, base, n + 1) for n, s in enumerate(sessions[1:])]
            for counter, who in zip(counters, STAFF, strict=True):
                await counter.sign_in(app, who)
            sent: dict[str, float] = {}
            posts: list[float] = []
            deadline = time.perf_counter() + seconds

            async def calling(counter: Counter) -> None:
                await asyncio.sleep(interval * counter.number / COUNTERS)
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    notice = await counter.post("/staff/loket/panggil")
                    posts.append((time.perf_counter() - started) * 1000)
                    if notice != "called":
                        return
                    visit = next(
                        v
                        for v in await app.desk.roster(day)
                        if v.status == "called" and v.counter == counter.number
                    )
                    sent[visit.queue_number] = started
                    await counter.post("/staff/loket/selesai")
                    await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

            stage(f"calling for {seconds:.0f} s")
            began = time.perf_counter()
            samples: list[int] = []

            async def sampling() -> None:
                while True:
                    await asyncio.sleep(seconds / 4)
                    samples.append(rss_kib(process.pid))

            sampler = asyncio.create_task(sampling())
            await asyncio.gather(*(calling(c) for c in counters))
            sampler.cancel()
            ran = time.perf_counter() - began
            await asyncio.sleep(1.0)  # the last events on their way
            stage(f"quiet until every display has read {day_heartbeats} heartbeats")
            quiet_until = time.perf_counter() + QUIET_TIMEOUT_S
            while time.perf_counter() < quiet_until:
                if min(screen.heartbeats for screen in screens) >= day_heartbeats:
                    break
                await asyncio.sleep(0.2)
            rss_end = rss_kib(process.pid)
            stage("done")
            delivery = [
                (screen.seen[number] - at) * 1000
                for screen in screens
                for number, at in sent.items()
                if number in screen.seen
            ]
            missed = sum(1 for s in screens for number in sent if number not in s.seen)
        finally:
            for task in streams:
                task.cancel()
            for session in sessions:
                await session.close()
            process.send_signal(signal.SIGINT)
            await process.wait()
            await client.aclose()
    return DisplayResult(
        displays,
        ran,
        interval,
        day_hours,
        len(sent),
        missed,
        sum(screen.events for screen in screens),
        min(screen.heartbeats for screen in screens),
        day_heartbeats,
        delivery,
        posts,
        rss_idle,
        rss_start,
        samples,
        rss_end,
    )


def report(result: DisplayResult) -> str:
    mib = 1024
    return "\n".join(
        [
            f"{result.displays} displays and {COUNTERS} counters on one web process, "
            f"{result.seconds:.0f} s of calls (a call per counter every {result.interval} s) and "
            f"the heartbeats of a day of {result.day_hours:g} hours:",
            "",
            "```",
            f"calls {result.calls}, events read {result.events}, calls a display missed "
            f"{result.missed} (of {result.calls * result.displays}), heartbeats read by each "
            f"display at least {result.heartbeats} (a day's: {result.day_heartbeats})",
            line("delivery (POST->event)", result.delivery),
            line("call-next POST", result.posts),
            "```",
            "",
            f"Web process RSS: idle {result.rss_idle / mib:.1f} MiB, {result.displays} displays "
            f"connected {result.rss_start / mib:.1f} MiB, after each quarter of the run "
            + ", ".join(f"{kib / mib:.1f}" for kib in result.rss_quarters)
            + f" MiB, after the day's heartbeats {result.rss_end / mib:.1f} MiB.",
        ]
    )


def targets(result: DisplayResult) -> list[Row]:
    return [
        (
            f"{result.displays} displays and {COUNTERS} counters on one web process: calls missed",
            f"{result.missed} of {result.calls * result.displays}",
            result.missed == 0 and result.calls > 0,
        ),
        (
            f"{result.displays} displays' streams held for a day of {result.day_hours:g} "
            f"hours (compressed): memory growth < {GROWTH_LIMIT_KIB // 1024} MiB",
            f"{result.growth_kib / 1024:+.1f} MiB",
            result.growth_kib < GROWTH_LIMIT_KIB and result.heartbeats >= result.day_heartbeats,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.display")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--displays", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--day-hours", type=float, default=8.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(bench(args.seconds, args.displays, args.interval, args.day_hours))
    print(report(result))
    print(targets_table(targets(result)))


if __name__ == "__main__":
    main()
