from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis as SyncRedis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot.booking.office import load_office
from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer
from tests.support import SECRET, start_worker
from workers.periodic import ensure_ticking, plan, releases_between
from workers.queues import QUEUE


def test_releases_are_found_at_the_instant_they_open(clock: ManualClock) -> None:
    office = load_office(None)
    today = office.local_today(clock.now())
    opening = office.release_at(today + timedelta(days=office.booking.days_ahead))
    clock.set(opening - timedelta(minutes=2))
    found = releases_between(office, clock.now(), clock.now() + timedelta(minutes=10))
    assert (today + timedelta(days=office.booking.days_ahead), opening) in found
    assert (
        releases_between(office, opening + timedelta(seconds=1), opening + timedelta(minutes=9))
        == []
    )


def test_plan_is_idempotent_and_schedules_releases_exactly(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    office = load_office(None)
    connection = SyncRedis.from_url(redis_server.url)
    connection.flushall()
    queue = Queue(QUEUE, connection=connection)
    day = office.local_today(clock.now()) + timedelta(days=office.booking.days_ahead)
    while office.closure(day) is not None:  # a day that actually opens
        day += timedelta(days=1)
    opening = office.release_at(day)
    clock.set(opening - timedelta(minutes=3))
    added = plan(queue, office, clock.now())
    releases = [j for j in added if j.startswith("release-")]
    assert len(releases) == len(office.services)
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in releases:
        assert registry.get_scheduled_time(job_id) == opening
    assert any(j.startswith("dayend-") for j in added)
    assert plan(queue, office, clock.now()) == []  # a second tick adds nothing
    first = ensure_ticking(queue, office.id, clock)
    assert first is not None and ensure_ticking(queue, office.id, clock) is None
    connection.close()


async def test_a_worker_runs_the_planned_day_end(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    office = load_office(None)
    connection = SyncRedis.from_url(redis_server.url)
    connection.flushall()
    queue = Queue(QUEUE, connection=connection)
    # The worker runs on real time, so this plan does too.
    now = datetime.now(UTC)
    [dayend] = [j for j in plan(queue, office, now) if j.startswith("dayend-")]
    env = {
        **os.environ,
        "ANTREAN_REDIS_URL": redis_server.url,
        "ANTREAN_SECRET_KEY": SECRET,
        "ANTREAN_VAR_DIR": str(tmp_path),
    }
    worker = await start_worker(env, "--burst")
    assert await asyncio.wait_for(worker.wait(), 60) == 0
    job = Job.fetch(dayend, connection=connection)
    result = job.latest_result()
    assert job.get_status() == "finished", result.exc_string if result else None
    assert "day end of" in str(job.return_value())
    # The worker started the tick chain on its way in.
    assert any(j.startswith("tick-") for j in ScheduledJobRegistry(queue=queue).get_job_ids())
    connection.close()
