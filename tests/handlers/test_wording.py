"""Messages say things in the reader's language: no internal status words leak into them."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from tests.support import User, confirm_booking, make_app, make_engine


async def test_checking_in_a_cancelled_booking_says_so_in_words(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path, staff="console:desk=officer")
    engine, recorder = make_engine(app)
    booking = await confirm_booking(app, "console:1001", app.niks.hash("3171011508850001"))
    await app.seats.cancel(booking.id, account="console:1001")
    clock.set(datetime.combine(booking.day, time(7, 30), tzinfo=app.office.tz))
    desk = User(engine, recorder, "desk")
    await desk.says("halo")
    code = app.codes.code(app.office.id, booking.id, booking.nik_hash)
    refused = await desk.says(f"/checkin {code}")
    assert "sudah dibatalkan" in refused and "cancelled" not in refused
