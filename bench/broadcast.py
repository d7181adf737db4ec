"""Broadcast pacing (issue #7): 10,000 recipients sent by real ``antrean worker --burst``
processes against fake platforms that enforce the caps, Telegram 30/s (the Bot API's broadcast
limit, answered with 429) and WhatsApp 80/s (Cloud API throughput, answered with 130429).

The recipients are real bookings (made straight in the seat book) split in proportion to the caps
so both channels take as long: 2,727 on Telegram and 7,273 on WhatsApp, about 91 s of sending.
Two worker processes share the pacing buckets in a private Redis; the fakes (the tests' fake Bot
API and fake Graph API) run in this process on loopback. A staff chat on Telegram starts the
broadcast, so its progress messages share the Telegram cap as they would in production; they are
left out of the rate.

Reported per channel: recipients, the recipients the fake accepted a message for, the achieved
rate over the channel's sending period (first to last accepted message, ``(n - 1) / span``) and
its share of the cap, the most messages the fake accepted in any one second (the pacer's burst of
a tenth of a second's worth and arrival jitter included; the fakes' token buckets, like the
platforms', hold a second's worth), the requests the fake refused for going over the cap,
duplicates (recipients that got more than one message) and missing recipients. Targets: at least
95% of each cap, no refusals, no duplicates (``BroadcastResult.targets()``).

The workers' logs (warnings and errors, ``--quiet``) go to files; the report counts them, and
prints their last lines if a worker fails or is killed at the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from rq import Queue

from bench.common import BENCH_OFFICE, bench_office, clock, redis_server
from bot.booking.app import App
from bot.infra.settings import load_settings
from tests.fake_graph import APP_SECRET, VERIFY_TOKEN, FakeGraph, run_fake_graph
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import confirm_booking
from tests.web_support import run_server
from workers.broadcasts import Progress, create_broadcast, progress
from workers.queues import QUEUE

RECIPIENTS = 10_000
TELEGRAM_CAP = 30.0
WHATSAPP_CAP = 80.0
WORKERS = 2
TEXTS = {"id": "Kantor tutup hari Jumat.", "en": "The office is closed on Friday."}
STAFF_CHAT = 999_999
FIRST_TELEGRAM_CHAT = 100_001
FIRST_WHATSAPP_NUMBER = 628_1200_00001
SECRET = "benchmark-secret-key-0123456789abcdef"
# Bookings made at once (each a script call on its own connection).
BOOKING_CONCURRENCY = 100
# The sending takes about 91 s, the workers start in about 10 s; they are killed after this.
WORKER_TIMEOUT_S = 135.0
# Targets.
MIN_SHARE = 0.95


def split(recipients: int, caps: Sequence[float]) -> list[int]:
    """Recipients per channel in proportion to the caps, so every channel takes as long."""
    total = sum(caps)
    counts = [round(recipients * cap / total) for cap in caps]
    counts[-1] = recipients - sum(counts[:-1])
    return counts


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool


@dataclass
class ChannelResult:
    name: str
    cap: float
    recipients: int
    # Recipients the fake accepted at least one message for.
    delivered: int
    # Messages to recipients the fake accepted (delivered + duplicates' extra copies).
    messages: int
    # When the first and the last message to a recipient were accepted (time.monotonic()).
    first_at: float
    last_at: float
    # The most messages the fake accepted within any one second (the starter's included).
    peak_1s: int
    # Requests the fake refused for going over the cap (429 / 130429), any recipient.
    rejected: int
    # Recipients that got more than one message.
    duplicates: int
    # Recipients that got none.
    missing: int
    # Accounts that got a message but were not recipients (should be none).
    strangers: int

    @property
    def span_s(self) -> float:
        """The channel's sending period: first to last accepted message to a recipient."""
        return self.last_at - self.first_at

    @property
    def rate(self) -> float:
        return (self.messages - 1) / self.span_s if self.messages > 1 and self.span_s else 0.0

    @property
    def share(self) -> float:
        return self.rate / self.cap

    def targets(self) -> list[Target]:
        return [
            Target(
                f"{self.name} rate ≥ {MIN_SHARE:.0%} of {self.cap:.0f}/s",
                f"{self.share:.1%}",
                self.share >= MIN_SHARE,
            ),
            Target(f"{self.name} requests rejected = 0", str(self.rejected), self.rejected == 0),
            Target(
                f"{self.name} duplicate recipients = 0", str(self.duplicates), self.duplicates == 0
            ),
        ]


@dataclass
class BroadcastResult:
    channels: list[ChannelResult]
    progress: Progress | None
    workers: int
    exit_codes: list[int | None]
    timed_out: bool
    booking_s: float
    # Workers started -> the last one exited (their start-up included).
    broadcast_s: float
    # Workers started -> the first message accepted (process start-up, first batch claimed).
    startup_s: float
    # The last message accepted -> the last worker exited.
    drain_s: float
    wall_s: float
    staff_messages: int
    # Reads of the phone number: the WhatsApp channel's start-up check, once per channel set.
    whatsapp_startups: int
    # Lines the workers logged at WARNING or above (and tracebacks).
    worker_problems: int
    # Each distinct problem (timestamp left out) and how often it was logged.
    worker_problem_kinds: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[Target]:
        """Each target of issue #7, per channel: share of cap, rejections, duplicates."""
        return [t for c in self.channels for t in c.targets()]

    @property
    def met(self) -> bool:
        return all(t.met for t in self.targets())

    @property
    def complete(self) -> bool:
        """The run itself went right: workers exited cleanly, every recipient sent once."""
        p = self.progress
        return (
            not self.timed_out
            and all(code == 0 for code in self.exit_codes)
            and p is not None
            and p.finished
            and p.status == "done"
            and p.sent == p.total == sum(c.recipients for c in self.channels)
            and all(c.missing == 0 and c.strangers == 0 for c in self.channels)
        )


async def book_all(app: App, accounts: Sequence[str]) -> None:
    """One active booking per account, straight in the seat book, a NIK each."""

    async def one(n: int, account: str) -> None:
        await confirm_booking(
            app,
            account,
            hashlib.sha256(account.encode()).hexdigest()[:32],
            locale="en" if n % 2 else "id",
        )

    for start in range(0, len(accounts), BOOKING_CONCURRENCY):
        chunk = accounts[start : start + BOOKING_CONCURRENCY]
        await asyncio.gather(*(one(start + i, a) for i, a in enumerate(chunk)))


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


STAMP = re.compile(r"^\S+ \S+ (?=[A-Z]+ )")
PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) |^Traceback ")


def worker_problems(logs: Sequence[Path]) -> list[str]:
    """The lines of the workers' logs at WARNING or above (and tracebacks)."""
    return [
        line
        for path in logs
        for line in path.read_text(errors="replace").splitlines()
        if PROBLEM.match(line)
    ]


def peak(times: Sequence[float], window: float = 1.0) -> int:
    """The most of ``times`` (sorted) within any ``window`` seconds."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def channel_result(
    name: str,
    cap: float,
    expected: set[str],
    received: list[tuple[str, float]],
    platform_times: list[float],
    rejected: int,
) -> ChannelResult:
    """``received``: (recipient, when) of each accepted message to a recipient;
    ``platform_times``: when each message the platform accepted arrived, the starter's too."""
    counts = Counter(to for to, _ in received)
    times = sorted(at for to, at in received if to in expected)
    return ChannelResult(
        name=name,
        cap=cap,
        recipients=len(expected),
        delivered=len(expected & counts.keys()),
        messages=len(times),
        first_at=times[0] if times else 0.0,
        last_at=times[-1] if times else 0.0,
        peak_1s=peak(sorted(platform_times)),
        rejected=rejected,
        duplicates=sum(1 for to, n in counts.items() if to in expected and n > 1),
        missing=len(expected - counts.keys()),
        strangers=len(counts.keys() - expected),
    )


async def compare(recipients: int = RECIPIENTS, workers: int = WORKERS) -> BroadcastResult:
    wall = time.perf_counter()
    telegram_count, whatsapp_count = split(recipients, [TELEGRAM_CAP, WHATSAPP_CAP])
    telegram_ids = [str(FIRST_TELEGRAM_CHAT + n) for n in range(telegram_count)]
    whatsapp_ids = [str(FIRST_WHATSAPP_NUMBER + n) for n in range(whatsapp_count)]
    with redis_server() as server, TemporaryDirectory() as tmp:
        var = Path(tmp)
        office_file = var / "office.toml"
        office_file.write_text(BENCH_OFFICE)
        async with AsyncExitStack() as stack:
            telegram = FakeTelegram()
            telegram.enforce_rate(TELEGRAM_CAP)
            telegram_base = await stack.enter_async_context(run_server(telegram.app()))
            graph: FakeGraph = await stack.enter_async_context(run_fake_graph())
            graph.enforce_rate(WHATSAPP_CAP)

            client = aioredis.Redis.from_url(server.url, decode_responses=True)
            stack.push_async_callback(client.aclose)
            queue_redis = SyncRedis.from_url(server.url)
            stack.callback(queue_redis.close)
            settings = load_settings(
                secret_key=SECRET,
                var_dir=var,
                office_config=office_file,
                rate_limit_per_minute=0,
                telegram_rate=TELEGRAM_CAP,
                whatsapp_rate=WHATSAPP_CAP,
            )
            app = App.build(settings, client, clock=clock(), office=bench_office())

            booking = time.perf_counter()
            await book_all(
                app,
                [f"telegram:{i}" for i in telegram_ids] + [f"whatsapp:{i}" for i in whatsapp_ids],
            )
            booking = time.perf_counter() - booking

            bid = await create_broadcast(
                app,
                Queue(QUEUE, connection=queue_redis),
                audience="active",
                texts=TEXTS,
                starter=f"telegram:{STAFF_CHAT}",
            )
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")},
                "ANTREAN_REDIS_URL": server.url,
                "ANTREAN_SECRET_KEY": SECRET,
                "ANTREAN_VAR_DIR": str(var),
                "ANTREAN_OFFICE_CONFIG": str(office_file),
                "ANTREAN_TELEGRAM_RATE": str(TELEGRAM_CAP),
                "ANTREAN_WHATSAPP_RATE": str(WHATSAPP_CAP),
                "ANTREAN_TELEGRAM_TOKEN": TOKEN,
                "ANTREAN_TELEGRAM_API_BASE": telegram_base,
                "ANTREAN_WHATSAPP_TOKEN": graph.token,
                "ANTREAN_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
                "ANTREAN_WHATSAPP_APP_SECRET": APP_SECRET,
                "ANTREAN_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                "ANTREAN_WHATSAPP_API_BASE": graph.base_url,
            }
            started = time.monotonic()
            processes = []
            logs = []
            for n in range(workers):
                # Warnings and errors only (--quiet), to a file the report reads.
                log_file = stack.enter_context((var / f"worker-{n}.log").open("wb"))
                logs.append(var / f"worker-{n}.log")
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "worker",
                    "--quiet",
                    "--burst",
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
                stack.push_async_callback(stop, process)
                processes.append(process)
            timed_out = False
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(p.wait() for p in processes)), WORKER_TIMEOUT_S
                )
            except TimeoutError:
                timed_out = True
                for process in processes:
                    await stop(process)
            ended = time.monotonic()
            tally = await progress(app, bid)

            to_staff = [c for c in telegram.sent_texts() if c.params["chat_id"] == str(STAFF_CHAT)]
            channels = [
                channel_result(
                    "Telegram",
                    TELEGRAM_CAP,
                    set(telegram_ids),
                    [
                        (str(c.params["chat_id"]), c.at)
                        for c in telegram.sent_texts()
                        if c.params["chat_id"] != str(STAFF_CHAT)
                    ],
                    [c.at for c in telegram.sent_texts()],
                    telegram.throttled,
                ),
                channel_result(
                    "WhatsApp",
                    WHATSAPP_CAP,
                    set(whatsapp_ids),
                    [(str(r["json"]["to"]), float(r["at"])) for r in graph.accepted],
                    [float(r["at"]) for r in graph.accepted],
                    graph.throttled,
                ),
            ]
            notes = []
            if timed_out:
                notes.append(f"the workers were killed after {WORKER_TIMEOUT_S:.0f} s")
            exit_codes = [p.returncode for p in processes]
            problems = worker_problems(logs)
            if timed_out or any(code != 0 for code in exit_codes):
                for path in logs:
                    tail = path.read_text(errors="replace").splitlines()[-30:]
                    print(f"--- {path.name}, last lines:", *tail, sep="\n", file=sys.stderr)
    return BroadcastResult(
        channels=channels,
        progress=tally,
        workers=workers,
        exit_codes=exit_codes,
        timed_out=timed_out,
        booking_s=booking,
        broadcast_s=ended - started,
        startup_s=min((c.first_at for c in channels if c.messages), default=ended) - started,
        drain_s=ended - max((c.last_at for c in channels if c.messages), default=ended),
        wall_s=time.perf_counter() - wall,
        staff_messages=len(to_staff),
        whatsapp_startups=graph.lookups,
        worker_problems=len(problems),
        worker_problem_kinds=Counter(STAMP.sub("", line) for line in problems).most_common(5),
        notes=notes,
    )


def report(result: BroadcastResult) -> str:
    lines = [
        "| channel | recipients | delivered | rate/s | cap/s | share of cap | peak in 1 s "
        "| rejected | duplicates | missing | sending period s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result.channels:
        lines.append(
            f"| {c.name} | {c.recipients:,} | {c.delivered:,} | {c.rate:.2f} | {c.cap:.0f} | "
            f"{c.share:.1%} | {c.peak_1s} | {c.rejected} | {c.duplicates} | {c.missing} | "
            f"{c.span_s:.1f} |"
        )
    p = result.progress
    tally = (
        "no such broadcast"
        if p is None
        else f"{p.status}: total {p.total:,}, sent {p.sent:,}, failed {p.failed}, "
        f"undeliverable {p.undeliverable}, unconfirmed {p.unconfirmed}, cancelled {p.cancelled}"
    )
    codes = ", ".join(str(code) for code in result.exit_codes)
    lines += [
        "",
        f"Wall time {result.wall_s:.1f} s: bookings {result.booking_s:.1f} s, broadcast "
        f"{result.broadcast_s:.1f} s ({result.workers} worker processes started to last exit, "
        f"exit codes {codes}: {result.startup_s:.1f} s to the first message, "
        f"{result.drain_s:.1f} s from the last message to the exit).",
        f"Broadcast tally: {tally}; {result.staff_messages} progress messages to the starter; "
        f"{result.whatsapp_startups} WhatsApp start-up checks; {result.worker_problems} "
        "warnings or errors in the workers' logs.",
        "Targets: "
        + "; ".join(
            f"{t.name}: {t.measured} {'met' if t.met else 'NOT met'}" for t in result.targets()
        )
        + ".",
    ]
    lines += [f"Note: {note}." for note in result.notes]
    lines += [f"    {n} x {line}" for line, n in result.worker_problem_kinds]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(asyncio.run(compare(*(int(a) for a in sys.argv[1:3])))))
