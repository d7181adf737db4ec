"""Real ``antrean run`` processes for the deployment tests: several web processes on loopback
ports sharing one Redis, driven through the Telegram webhook, answering through a fake Bot API.

Everything runs on real time (the processes have no injected clock), so the office is open every
day and the booking day is computed from the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.booking.office import load_office
from bot.infra.embedded import free_port
from channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.channels.drivers.telegram import WEBHOOK_SECRET, callback_update, text_update
from tests.fake_telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "deploy-test-secret-key-0123456789-abcdefghijklmnop"
SERVICE = "paspor-baru"
WINDOW = "0800-1200"
# Open every day with one window, so that the tests do not depend on today's date. min_days_ahead
# = 1 and several days ahead: the test books the second bookable day, which stays bookable even
# if the office's midnight passes during the test.
OFFICE = """
[office]
id = "deploy-test"
name = "Kantor Uji"
address = "Loopback"
public_holidays = false

[booking]
days_ahead = 7
min_days_ahead = 1
max_active_per_account = 1

[[services]]
id = "paspor-baru"
prefix = "A"
names = { id = "Paspor baru", en = "New passport" }
documents = { id = [], en = [] }

[hours]
{days}
"""
# Indonesian texts the assertions look for (bot/booking/locales/id.toml).
CONFIRMED = "Nomor antrean"
SOLD_OUT = ("penuh", "habis")
INTERNAL_ERROR = "terjadi kesalahan di sistem kami"
# Update ids: unique per bot and distinct from the other tests' drivers.
_update_ids = itertools.count(9_000_000)


def write_office(directory: Path, seats: int) -> Path:
    days = "\n".join(
        f'{d} = [{{ start = "08:00", end = "12:00", seats = {seats} }}]'
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    path = directory / "office.toml"
    path.write_text(OFFICE.replace("{days}", days))
    return path


def booking_days(office_file: Path) -> list[date]:
    """Bookable days on real time, skipping the first (it stops being bookable at midnight)."""
    days = load_office(office_file).bookable_days(datetime.now(UTC))
    assert len(days) >= 3, days
    return days[1:]


def nik(n: int) -> str:
    """The n-th valid NIK (Central Jakarta, born 15 Aug 1985, serial n + 1)."""
    return f"317101150885{n + 1:04d}"


def env_for(
    *,
    redis_url: str,
    api_base: str,
    office_file: Path,
    var_dir: Path,
    port: int,
    **extra: str,
) -> dict[str, str]:
    # Start from a clean slate: a developer's own ANTREAN_* variables must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(
        ANTREAN_ENV="production",
        ANTREAN_REDIS_URL=redis_url,
        ANTREAN_SECRET_KEY=SECRET_KEY,
        ANTREAN_TELEGRAM_TOKEN=TOKEN,
        ANTREAN_TELEGRAM_API_BASE=api_base,
        ANTREAN_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ANTREAN_HTTP_HOST="127.0.0.1",
        ANTREAN_HTTP_PORT=str(port),
        ANTREAN_OFFICE_CONFIG=str(office_file),
        ANTREAN_VAR_DIR=str(var_dir),
        ANTREAN_RATE_LIMIT_PER_MINUTE="0",
        # No pre-queue: the release hour must not change what the day step offers.
        ANTREAN_PRERELEASE_MINUTES="0",
        **extra,
    )
    return env


@dataclass
class WebProcess:
    process: asyncio.subprocess.Process
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class WebProcesses:
    """``antrean run`` subprocesses, each on its own port, answering at ``bases``."""

    processes: list[WebProcess] = field(default_factory=list)

    @property
    def bases(self) -> list[str]:
        return [p.base for p in self.processes]

    def logs(self) -> str:
        return "\n".join(f"--- {p.base}\n{p.output()}" for p in self.processes)

    async def stop(self, grace: float = 20.0) -> list[int | None]:
        """SIGTERM each and wait (bounded) for it to exit; the exit codes (None: killed)."""
        codes: list[int | None] = []
        for p in self.processes:
            if p.process.returncode is None:
                p.process.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                codes.append(await asyncio.wait_for(p.process.wait(), grace))
            except TimeoutError:
                p.process.kill()
                await p.process.wait()
                codes.append(None)
        return codes


async def wait_healthy(http: aiohttp.ClientSession, base: str, within: float = 45.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(base + "/healthz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base}/healthz did not answer 200 within {within:.0f} s")


@contextlib.asynccontextmanager
async def web_processes(
    count: int, tmp_path: Path, http: aiohttp.ClientSession, **env: Any
) -> AsyncIterator[WebProcesses]:
    """``count`` ``python -m bot.cli run`` processes, healthy before this yields. On exit, any
    still running is terminated (the tests stop them themselves to check the exit code)."""
    group = WebProcesses()
    try:
        for i in range(count):
            port = free_port()
            log = tmp_path / f"web-{i}.log"
            handle = log.open("wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                env=env_for(port=port, **env),
                cwd=tmp_path,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
            )
            handle.close()
            group.processes.append(WebProcess(process, f"http://127.0.0.1:{port}", log))
        try:
            await asyncio.gather(*(wait_healthy(http, base) for base in group.bases))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{group.logs()}") from None
        yield group
    finally:
        await group.stop()


def slow_sends(chat_ids: set[str], delay: float = 0.2) -> Callable[..., Awaitable[Any]]:
    """A middleware for the fake Bot API: sendMessage to one of ``chat_ids`` answers ``delay``
    seconds late, so that the process sending it holds that user's lease meanwhile."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.endswith("/sendMessage"):
            # Both are cached by aiohttp, so the fake's own handler can read the body again.
            if request.content_type == "application/json":
                params = await request.json()
            else:
                params = dict(await request.post())
            if str(params.get("chat_id")) in chat_ids:
                await asyncio.sleep(delay)
        return await handler(request)

    return middleware


class Webhook:
    """Posts updates to the webhook of one of several processes."""

    def __init__(self, http: aiohttp.ClientSession, bases: Sequence[str]) -> None:
        self.http = http
        self.urls = [base + WEBHOOK_PATH for base in bases]

    async def post(self, update: dict[str, Any], process: int) -> int:
        url = self.urls[process % len(self.urls)]
        try:
            async with self.http.post(
                url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            # As Telegram sees it: no answer, so the update is delivered again.
            return 599


def last_keyboard_message(fake: FakeTelegram, chat_id: int) -> int:
    """The id of the last message with buttons the fake sent to ``chat_id`` (what a tap on one
    of its buttons refers to); 0 when there is none (the tap is then on a stale message)."""
    for call in reversed(fake.of("sendMessage", chat_id)):
        if call.result is not None and call.params.get("reply_markup"):
            message_id: int = call.result["message_id"]
            return message_id
    return 0


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in fake.of("sendMessage", chat_id) if c.result is not None]


Turn = tuple[str, str]  # ("text" | "tap", text or callback data)


def applicant_name(n: int) -> str:
    """A distinct valid name (letters only) for applicant ``n``."""
    letters = "".join(chr(ord("a") + int(d)) for d in str(n))
    return f"Pemohon {letters.capitalize()}"


def booking_turns(day: date, n: int) -> list[Turn]:
    """The whole booking conversation of applicant ``n``."""
    return [
        ("text", "/start"),
        ("tap", "book"),
        ("tap", SERVICE),
        ("tap", day.isoformat()),
        ("tap", WINDOW),
        ("text", nik(n)),
        ("text", applicant_name(n)),
        ("tap", "yes"),
    ]


def make_update(fake: FakeTelegram, chat_id: int, turn: Turn) -> dict[str, Any]:
    kind, value = turn
    if kind == "text":
        return text_update(value, chat_id, next(_update_ids))
    return callback_update(value, last_keyboard_message(fake, chat_id), chat_id)
