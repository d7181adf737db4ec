"""The office's clockwork: a tick job every few minutes, one chain however many workers run.

Each tick schedules the next one under an id derived from its time slot, so that workers starting
up, or a tick that ran twice, never start a second chain. A tick plans three kinds of work:
announcing each day's quota release at the exact instant it opens (a job scheduled ahead for that
instant, again with a derived id), the reminders due before the tick after next (from the
office's due list, workers/reminders.py), and the day-end job for yesterday (no-shows), once a
day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from rq import Queue, get_current_job
from rq.job import Job

from bot.booking.office import Office
from bot.core.clock import Clock, SystemClock
from workers.reminders import plan_reminders
from workers.runtime import current

TICK = timedelta(minutes=5)


def _slot(when: datetime) -> int:
    return int(when.timestamp() // TICK.total_seconds())


def ensure_ticking(queue: Queue, office_id: str, clock: Clock | None = None) -> str | None:
    """Schedule the tick of the next slot unless it is already scheduled; its id or None."""
    now = (clock or SystemClock()).now()
    slot = _slot(now) + 1
    job_id = f"tick-{office_id}-{slot}"
    if Job.exists(job_id, connection=queue.connection):
        return None
    at = datetime.fromtimestamp(slot * TICK.total_seconds(), UTC)
    queue.enqueue_at(at, tick, office_id, job_id=job_id, result_ttl=3600, failure_ttl=86400)
    return job_id


def ensure_all_ticking(queue: Queue, office_ids: Iterable[str], clock: Clock | None = None) -> int:
    """:func:`ensure_ticking` for every office of the network; how many chains it started."""
    return sum(ensure_ticking(queue, office_id, clock) is not None for office_id in office_ids)


def releases_between(office: Office, start: datetime, end: datetime) -> list[tuple[date, datetime]]:
    """Days whose quota opens in ``[start, end)``, with the instant it opens."""
    first = office.local_today(start)
    found = []
    for offset in range(office.booking.days_ahead + 2):
        day = first + timedelta(days=offset)
        at = office.release_at(day)
        if start <= at < end and office.closure(day) is None:
            found.append((day, at))
    return found


def plan(queue: Queue, office: Office, now: datetime) -> list[str]:
    """Put the coming work on the queue (idempotently); the ids of the jobs it added."""
    added = []
    # Announce releases opening before the tick after next, at the instant they open.
    for day, at in releases_between(office, now, now + 2 * TICK):
        for service in office.services:
            job_id = f"release-{office.id}-{day.isoformat()}-{service.id}"
            if not Job.exists(job_id, connection=queue.connection):
                queue.enqueue_at(
                    at,
                    "workers.dayend.announce_release",
                    office.id,
                    day.isoformat(),
                    service.id,
                    job_id=job_id,
                    result_ttl=7 * 86400,
                )
                added.append(job_id)
    # Reminders due before the tick after next (and any a booking made since the last tick
    # left already due), each at its instant.
    added += plan_reminders(queue, office, now, 2 * TICK)
    # Yesterday's no-shows, once.
    yesterday = office.local_today(now) - timedelta(days=1)
    job_id = f"dayend-{office.id}-{yesterday.isoformat()}"
    if not Job.exists(job_id, connection=queue.connection):
        queue.enqueue(
            "workers.dayend.run_dayend",
            office.id,
            yesterday.isoformat(),
            job_id=job_id,
            result_ttl=7 * 86400,
        )
        added.append(job_id)
    return added


def tick(office_id: str) -> str:
    """The RQ job: keep the chain going first (a failing plan must not stop it), then plan."""
    job = get_current_job()
    assert job is not None, "tick runs as an RQ job"
    queue = Queue(job.origin, connection=job.connection)
    app = current().app()
    office = app.network.get(office_id)
    if office is None:
        # An office taken out of the network: its chain ends here.
        return f"no office {office_id}: not ticking"
    ensure_ticking(queue, office_id)
    added = plan(queue, office, app.clock.now())
    return f"planned {len(added)} job(s)"
