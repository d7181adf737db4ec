"""``antrean demo-bookings``: today's sample bookings, whose codes check in."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking.demo_bookings import make_demo_bookings
from bot.cli import build_parser
from bot.compose import open_app
from bot.core.clock import Clock, ManualClock
from bot.core.engine import Engine
from bot.errors import ConfigError
from bot.infra.embedded import RedisServer
from bot.infra.settings import Settings, load_settings
from handlers import build_steps
from tests.support import SECRET, Recorder, User, make_app


async def demo_bookings(
    settings: Settings, out: io.StringIO | None = None, clock: Clock | None = None
) -> int:
    """``antrean demo-bookings``, opened as the command opens it (on the test's clock)."""
    async with open_app(settings, "tool", clock=clock) as process:
        return await make_demo_bookings(process.deps, out)


CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


async def test_demo_bookings_print_codes_that_check_in_today(
    redis: aioredis.Redis, redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    assert build_parser().parse_args(["demo-bookings"]).command == "demo-bookings"
    settings = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    out = io.StringIO()
    assert await demo_bookings(settings, out, clock) == 0
    codes = CODE.findall(out.getvalue())
    assert len(codes) == 3 and "Budi Santoso" in out.getvalue()
    again = io.StringIO()
    assert await demo_bookings(settings, again, clock) == 0
    assert CODE.findall(again.getvalue()) == codes  # the same bookings, not new ones

    app = make_app(redis, clock, tmp_path, staff="console:desk")
    recorder = Recorder()
    desk = User(Engine(app, build_steps(), {"console": recorder}), recorder, "desk")
    await desk.says("halo")
    assert "✅" in await desk.says(f"/checkin {codes[0]}")
    assert "hadir 1" in await desk.says("/stats")


async def test_demo_bookings_refuse_a_real_office_and_a_closed_day(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    office = tmp_path / "office.toml"
    office.write_bytes((Path(__file__).parents[3] / "bot/booking/demo/office.toml").read_bytes())
    real = load_settings(
        secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url, office_config=office
    )
    with pytest.raises(ConfigError, match="demo office"):
        await demo_bookings(real)
    demo = load_settings(secret_key=SECRET, var_dir=tmp_path, redis_url=redis_server.url)
    sunday = ManualClock(datetime(2030, 3, 3, 3, 0, tzinfo=UTC))
    out = io.StringIO()
    assert await demo_bookings(demo, out, sunday) == 1
    assert "closed today" in out.getvalue()
