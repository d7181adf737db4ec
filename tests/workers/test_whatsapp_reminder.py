"""A WhatsApp user silent for 25 hours gets the reminder as the approved template."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from rq import Queue

from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer
from tests.channels.drivers.whatsapp import open_driver
from tests.fake_graph import APP_SECRET, VERIFY_TOKEN
from tests.support import SECRET, make_app, start_worker
from workers.queues import QUEUE

# Open every day, so that the test does not depend on which day it runs.
OFFICE = """
[office]
id = "always-open"
name = "Kantor Contoh"
address = "Loopback"
public_holidays = false

[[services]]
id = "paspor-baru"
prefix = "A"
names = { id = "Paspor baru", en = "New passport" }
documents = { id = [], en = [] }

[hours]
{days}
"""


async def test_a_user_silent_for_25_hours_gets_the_template(
    redis_server: RedisServer, redis: aioredis.Redis, tmp_path: Path
) -> None:
    days = "\n".join(
        f'{d} = [{{ start = "08:00", end = "12:00", seats = 10 }}]'
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    office_file = tmp_path / "office.toml"
    office_file.write_text(OFFICE.replace("{days}", days))
    # The applicant wrote 25 hours ago (the worker below runs on real time).
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=25))
    async with open_driver(redis, clock, tmp_path) as driver:
        await driver.type("halo")  # records when this user last wrote
        fake = driver.fake
        app = make_app(redis, clock, tmp_path, office_config=office_file)
        office = app.office
        day = office.bookable_days(clock.now())[0]
        window = office.windows(day)[0]
        booking = await app.seats.confirm(
            hold_id=app.codes.new_id(),
            day=day,
            service="paspor-baru",
            window=window.id,
            default_capacity=10,
            prefix="A",
            account=f"whatsapp:{driver.wa_id}",
            max_active=1,
            nik_hash="b" * 32,
            nik_last4="0001",
            name="Siti",
            locale="en",
        )
        offset = min(office.booking.reminder_offsets_minutes)
        sync = SyncRedis.from_url(redis_server.url)
        queue = Queue(QUEUE, connection=sync)
        # Due right away in real time.
        queue.enqueue(
            "workers.reminders.send_reminder",
            office.id,
            booking.id,
            day.isoformat(),
            window.id,
            offset,
        )
        sent_before = len(fake.to(driver.wa_id))
        env = {
            **os.environ,
            "ANTREAN_REDIS_URL": redis_server.url,
            "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_OFFICE_CONFIG": str(office_file),
            "ANTREAN_VAR_DIR": str(tmp_path),
            "ANTREAN_WHATSAPP_TOKEN": fake.token,
            "ANTREAN_WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
            "ANTREAN_WHATSAPP_APP_SECRET": APP_SECRET,
            "ANTREAN_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "ANTREAN_WHATSAPP_API_BASE": fake.base_url,
        }
        worker = await start_worker(env, "--burst")
        assert await asyncio.wait_for(worker.wait(), 60) == 0
        [message] = fake.to(driver.wa_id)[sent_before:]
        assert message["type"] == "template"
        assert message["template"]["name"] == "antrean_reminder"
        assert message["template"]["language"]["code"] == "en"
        sync.close()
