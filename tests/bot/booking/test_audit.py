"""The audit log: office time on print, and redaction of only what can be personal data."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.audit import print_audit, redact
from bot.compose import open_app
from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer
from bot.infra.settings import load_settings
from tests.handlers.test_staff import STAFF
from tests.support import NIK_MAN, SECRET, User, make_app


@pytest.mark.parametrize(
    ("typed", "logged"),
    [
        ("2026-12-08 0800-1000 50", "2026-12-08 0800-1000 50"),
        ("2026-12-08 08:00-10:00 50 Paspor baru", "2026-12-08 08:00-10:00 50 Paspor baru"),
        ("2026-12-08 0800 50", "2026-12-08 0800 50"),
        ("2026-12-08 Pemadaman listrik", "2026-12-08 Pemadaman listrik"),
        (NIK_MAN, "[redacted]"),
        ("3171 0115 0885 0001", "[redacted]"),
        ("3171-0115-0885-0001", "[redacted]"),
        ("3171.01.150885.0001", "[redacted]"),
        (f"2026-12-08 {NIK_MAN}", "2026-12-08 [redacted]"),
        ("0800-1000 3171 0115 0885 0001", "0800-1000 [redacted]"),
        ("6281234567890", "[redacted]"),
    ],
)
def test_redaction_blanks_niks_and_keeps_dates_and_windows(typed: str, logged: str) -> None:
    assert redact(typed) == logged


async def test_audit_prints_office_time_with_the_zone_label(
    redis: aioredis.Redis, redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    # The clock is 01:00 UTC, 08:00 in Jakarta.
    app = make_app(redis, clock, tmp_path)
    await app.audit.record("console:admin", "stats", "ok", day="2030-03-04")
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    out = io.StringIO()
    async with open_app(settings, "tool") as process:  # as `antrean audit` opens it
        deps = process.deps
        assert await print_audit(deps.audit, deps.office.tz, out=out) == 1
    assert out.getvalue().startswith("2030-03-04 08:00:00 WIB console:admin stats ok")


async def test_staff_commands_log_what_they_may(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from bot.core.engine import Engine
    from handlers import build_steps
    from tests.support import Recorder

    app = make_app(redis, clock, tmp_path, staff=STAFF)
    recorder = Recorder()
    admin = User(Engine(app, build_steps(), {"console": recorder}), recorder, "admin")
    await admin.says("halo")
    await admin.says("/quota 2030-03-19 0700 5")  # no such window: refused, arguments kept
    await admin.says(f"/checkin {NIK_MAN}")  # a NIK where the code goes: nothing of it kept
    await admin.says("/checkin ABCD-EFGH-JKMN")
    entries = {(e.action, e.details.get("reason")): e for e in await app.audit.latest()}
    assert entries["quota", "unknown_window"].details["args"] == "2030-03-19 0700 5"
    assert "args" not in entries["checkin", "checkin_format"].details
    # The booking id (the code's first six characters) is kept, the signature part is not.
    assert entries["checkin", "checkin_not_found"].details == {
        "reason": "checkin_not_found",
        "booking": "ABCDEF",
    }
    assert all("JKMN" not in e.line() and NIK_MAN not in e.line() for e in entries.values())
