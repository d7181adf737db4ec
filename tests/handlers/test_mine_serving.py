"""On the day of a booking, "my booking" shows the number being served now (the office's latest
call to a counter); other days it does not."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from tests.handlers.test_staff import STAFF, visit_day
from tests.support import User, confirm_booking, make_app, make_engine


async def test_my_booking_shows_the_number_served_now_on_its_day(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path, staff=STAFF)
    engine, recorder = make_engine(app)
    user = User(engine, recorder)
    other = await confirm_booking(app, "console:2002", "b" * 32)
    mine = await confirm_booking(app, "console:1001", "a" * 32)
    await user.says("halo")
    before = await user.says("2")
    assert mine.queue_number in before and "dilayani" not in before and "dipanggil" not in before
    visit_day(app, mine, clock)
    await user.says("halo")
    assert "Belum ada nomor yang dipanggil hari ini." in await user.says("2")
    await app.desk.check_in(other.id, staff=STAFF)
    await app.desk.call_next(2, staff=STAFF)
    await user.says("menu")
    shown = await user.says("2")
    assert f"Nomor yang sedang dilayani sekarang: *{other.queue_number}* (Loket 2)." in shown
