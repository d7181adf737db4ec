"""QR images written by ``antrean chat``: named after the whole code, deleted on cancel."""

from __future__ import annotations

import io
from pathlib import Path

import redis.asyncio as aioredis

from bot.booking.console_images import QrImageCleanup
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from channels.console import ConsoleChannel
from handlers import build_steps
from tests.channels.drivers.console import ConsoleDriver
from tests.support import NIK_MAN, make_app


async def test_a_cancelled_bookings_qr_image_is_deleted(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    # The image was named after the 6-character booking id and stayed after a cancel.
    app = make_app(redis, clock, tmp_path)
    images = tmp_path / "images"
    app.events = QrImageCleanup(app.events, app.codes, app.office.id, images)
    output = io.StringIO()
    console = ConsoleChannel(output=output, image_dir=images)
    user = ConsoleDriver(Engine(app, build_steps(), {"console": console}), output, images)
    for line in ("halo", "1", "1", "1", "1", NIK_MAN, "budi santoso"):
        await user.type(line)
    done = await user.type("1")  # yes
    assert done.images == 1
    [booking] = await app.seats.active_for_account("console:tester")
    code = app.codes.code(app.office.id, booking.id, booking.nik_hash)
    assert [p.name for p in images.iterdir()] == [f"antrean-{code}.png"]
    assert len(code.replace("-", "")) == 12

    await user.type("menu")
    await user.type("2")  # my booking (the only one)
    await user.type("2")  # cancel
    cancelled = await user.type("1")  # yes
    assert "dibatalkan" in " ".join(cancelled.texts)
    assert list(images.iterdir()) == []
