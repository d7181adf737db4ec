"""Reminders before a visit, as RQ jobs with ids derived from the booking.

Scheduling is idempotent: a booking's reminder jobs are always replaced as a whole, so confirming
twice, rescheduling or cancelling leaves exactly the jobs the booking's current time calls for.
Sending is at most once: the job claims a sent-marker (in the office's Redis slot, atomically with
checking that the booking is still active at the same time) before it sends, and gives the marker
back only if the send failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.booking.office import Office
from bot.booking.seats import Booking
from bot.core.channel import Notice
from bot.core.clock import Clock
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


def job_id(office_id: str, booking_id: str, offset: int) -> str:
    return f"reminder-{office_id}-{booking_id}-{offset}"


class ReminderSchedule:
    """Puts a booking's reminders on the RQ queue (blocking calls: run it in a thread)."""

    def __init__(self, queue: Queue, office: Office, clock: Clock) -> None:
        self.queue = queue
        self.office = office
        self.clock = clock

    def cancel(self, booking_id: str) -> None:
        for offset in self.office.booking.reminder_offsets_minutes:
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(
                    job_id(self.office.id, booking_id, offset), self.queue.connection
                ).delete()

    def schedule(self, booking: Booking) -> list[str]:
        """Replace the booking's reminder jobs with ones for its current day and window."""
        self.cancel(booking.id)
        start = self.office.window_start(booking.day, booking.window)
        now = self.clock.now()
        scheduled = []
        for offset in self.office.booking.reminder_offsets_minutes:
            delay = start - timedelta(minutes=offset) - now
            if delay <= timedelta(0):
                continue  # booked after that reminder would have gone out
            jid = job_id(self.office.id, booking.id, offset)
            self.queue.enqueue_in(
                delay,
                send_reminder,
                self.office.id,
                booking.id,
                booking.day.isoformat(),
                booking.window,
                offset,
                job_id=jid,
                retry=Retry(max=3, interval=[30, 120, 600]),
                result_ttl=7 * 24 * 3600,
                failure_ttl=30 * 24 * 3600,
                description=f"reminder {offset} min before a visit",
            )
            scheduled.append(jid)
        return scheduled


class RqBookingEvents:
    """The app's booking-events port, scheduling reminders on RQ off the event loop."""

    def __init__(self, schedule: ReminderSchedule) -> None:
        self.schedule = schedule

    async def booked(self, booking: Booking) -> None:
        await asyncio.to_thread(self.schedule.schedule, booking)

    async def moved(self, booking: Booking) -> None:
        await asyncio.to_thread(self.schedule.schedule, booking)

    async def cancelled(self, booking: Booking) -> None:
        await asyncio.to_thread(self.schedule.cancel, booking.id)


def send_reminder(office_id: str, booking_id: str, day: str, window: str, offset: int) -> str:
    """The RQ job. Returns what happened (kept as the job's result)."""
    runtime = current()
    return runtime.run(_send(runtime, office_id, booking_id, day, window, offset))


async def _send(
    runtime: Runtime, office_id: str, booking_id: str, day: str, window: str, offset: int
) -> str:
    app = runtime.app()
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
    text, params = reminder_text(runtime, booking)
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


def reminder_text(runtime: Runtime, booking: Booking) -> tuple[str, list[str]]:
    app = runtime.app()
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
