"""Reminders before a visit: from the office's due list to RQ jobs, and the job that sends one.

Booking and moving put a booking's reminders on the office's due list (bot/booking/reminders.py)
inside the seat scripts; the clock tick (workers/periodic.py) turns those due within the next
ticks into RQ jobs with ids derived from the entry (:func:`plan_reminders`), so each entry makes
one job however often it is planned. Sending is at most once: the job claims a sent-marker (in
the office's Redis slot, atomically with checking that the booking is still active at the same
time) before it sends, and gives the marker back only if the send failed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue, Retry
from rq.job import Job

from bot.booking.app import App
from bot.booking.office import Office
from bot.booking.reminders import DUE, Due
from bot.booking.seats import ID_MARK, Booking
from bot.core.channel import Notice
from bot.core.clock import ms
from bot.core.i18n import LOCALES
from bot.errors import ChannelError
from bot.infra.claims import new_token
from bot.infra.keys import OfficeKeys
from bot.infra.logs import anon
from bot.infra.metrics import REMINDER_LATENESS
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

# Claim the right to send one reminder.
#   KEYS[1] booking hash   KEYS[2] sent-marker
#   ARGV[1] the day the reminder was scheduled for   ARGV[2] its window   ARGV[3] claim token
#   ARGV[4] marker TTL (s)
# Returns {"missing"} | {"inactive"} | {"moved"} | {"sent"} | {"claimed"}.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local b = redis.call('HMGET', KEYS[1], 'status', 'day', 'window')
if b[1] ~= 'active' then return {'inactive'} end
if b[2] ~= ARGV[1] or b[3] ~= ARGV[2] then return {'moved'} end
if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) then return {'sent'} end
return {'claimed'}
"""

MARKER_TTL_S = 60 * 24 * 3600
# Most due-list entries one tick turns into jobs (the rest wait for the next tick).
PLAN_BATCH = 5000


def job_id(office_id: str, entry: Due) -> str:
    """The RQ job of one due-list entry: the same entry never makes a second job."""
    return f"reminder-{office_id}-{entry.booking_id}-{entry.day}-{entry.window}-{entry.offset}"


def plan_reminders(queue: Queue, office: Office, now: datetime, horizon: timedelta) -> list[str]:
    """Turn the office's reminders due before ``now + horizon`` into RQ jobs, each at its due
    instant (at once if it is already due: a booking made minutes before); the ids of the jobs
    it added. Blocking (RQ's client): called from the clock tick, a job itself.

    Idempotent: a job is made only if its id is new, and an entry leaves the due list only after
    its job exists, so a worker dying in between leaves the entry for the next tick.
    """
    keys = OfficeKeys(office.id)
    redis = queue.connection
    flat = redis.register_script(DUE)(
        keys=[keys.reminders],
        args=[ms(now + horizon), ms(now), keys.booking(ID_MARK), PLAN_BATCH],
    )
    entries = [Due.parse(_str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
    added = []
    for entry in entries:
        jid = job_id(office.id, entry)
        if not Job.exists(jid, connection=redis):
            args = (office.id, entry.booking_id, entry.day, entry.window, entry.offset)
            options: dict[str, Any] = {
                "job_id": jid,
                "retry": Retry(max=3, interval=[30, 120, 600]),
                "result_ttl": 24 * 3600,
                "failure_ttl": 30 * 24 * 3600,
                "description": f"reminder {entry.offset} min before a visit",
            }
            due = datetime.fromtimestamp(entry.due_ms / 1000, UTC)
            if due > now:
                queue.enqueue_at(due, send_reminder, *args, **options)
            else:
                queue.enqueue(send_reminder, *args, **options)
            added.append(jid)
        redis.zrem(keys.reminders, entry.member)
    return added


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def send_reminder(office_id: str, booking_id: str, day: str, window: str, offset: int) -> str:
    """The RQ job. Returns what happened (kept as the job's result)."""
    runtime = current()
    return runtime.run(_send(runtime, office_id, booking_id, day, window, offset))


async def _send(
    runtime: Runtime, office_id: str, booking_id: str, day: str, window: str, offset: int
) -> str:
    app = runtime.app().view(office_id)
    keys = OfficeKeys(office_id)
    marker = keys.reminded(booking_id, day, window, offset)
    token = new_token()
    claim = app.redis.register_script(CLAIM)
    outcome = await claim(
        keys=[keys.booking(booking_id), marker], args=[day, window, token, MARKER_TTL_S]
    )
    status = outcome[0] if isinstance(outcome[0], str) else outcome[0].decode()
    if status != "claimed":
        log.info("reminder for booking %s skipped: %s", booking_id, status)
        return f"skipped: {status}"
    booking = await app.seats.get(booking_id)
    assert booking is not None
    channel_name, _, user_id = booking.account.partition(":")
    channel = (await runtime.channels()).get(channel_name)
    if channel is None:
        # Not retried: the channel is not configured in this deployment any more.
        log.error(
            "reminder for %s: channel %r is not configured", anon(booking.account), channel_name
        )
        return "failed: channel not configured"
    text, params = reminder_text(runtime, booking, app)
    try:
        await channel.notify(
            user_id,
            Notice(
                text,
                template=app.settings.whatsapp_template_reminder,
                params=tuple(params),
                locale=booking.locale,
            ),
        )
    except ChannelError as exc:
        if exc.code == "undeliverable":
            log.warning("reminder for %s undeliverable", anon(booking.account))
            return "failed: undeliverable"
        # Give the claim back so that RQ's retry can send it.
        await app.claims.give_back(marker, token)
        raise
    due = app.office.window_start(booking.day, booking.window) - timedelta(minutes=offset)
    REMINDER_LATENESS.observe(max(0.0, (app.clock.now() - due).total_seconds()))
    return "sent"


def reminder_text(
    runtime: Runtime, booking: Booking, app: App | None = None
) -> tuple[str, list[str]]:
    """The reminder's text and template parameters; ``app``: the booking office's view of the
    app (:meth:`App.view`), else the runtime's."""
    app = app or runtime.app()
    office = app.office
    service = office.service(booking.service)
    window = office.window(booking.day, booking.window)
    locale = booking.locale if booking.locale in LOCALES else app.settings.default_locale
    values: dict[str, Any] = {
        "number": booking.queue_number,
        "service": service.name(locale) if service else booking.service,
        "office": office.name,
        "day": app.catalog.format_day(locale, booking.day),
        "window": window.label if window else booking.window,
        "code": app.codes.code(office.id, booking.id, booking.nik_hash),
    }
    text = app.catalog.t(locale, "reminder.text", **values)
    params = [values["number"], values["day"], values["window"], values["code"]]
    return text, params
