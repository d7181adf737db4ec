"""Jobs at the end of a day and around staff decisions about days.

- :func:`notify_closed`: after ``/close``, tell every applicant whose booking was cancelled, in
  their language, with a button that starts a new booking (option ``book`` of the main menu).
- :func:`notify_reopened`: after ``/reopen``, tell the same applicants that the day is open again
  and that they can book again (their cancelled bookings stay cancelled).
- :func:`run_dayend`: after a day, mark its bookings that were never checked in as no-shows and
  record a strike against each NIK (two within 30 days block the NIK for 14 days).
- :func:`announce_release`: at a day's opening, admit its pre-queue and tell those admitted.

Every job may run twice (RQ retries, a worker dying after a send): sends claim a per-booking (or
per-account) sent-marker first and give it back only when the send failed; the day-end marking
is idempotent and runs as one instance at a time under a lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, timedelta

from bot.booking.app import App
from bot.core.channel import Channel, Notice
from bot.core.i18n import LOCALES
from bot.core.messages import Choices, Option, Outbound, Text
from bot.errors import ChannelError
from bot.infra.claims import new_token
from bot.infra.keys import StaffKeys
from bot.infra.logs import anon
from workers.runtime import current

log = logging.getLogger(__name__)

MARKER_TTL_S = 60 * 24 * 3600
LOCK_TTL_MS = 10 * 60 * 1000


async def _send(
    app: App,
    channels: Mapping[str, Channel],
    account: str,
    marker: str,
    messages: list[Outbound],
    notice: str,
    locale: str,
) -> str:
    """Send once per marker: 'sent', 'skipped' (sent before), or a failure."""
    token = new_token()
    if not await app.claims.claim(marker, token, MARKER_TTL_S * 1000):
        return "skipped"
    channel_name, _, user_id = account.partition(":")
    channel = channels.get(channel_name)
    if channel is None:
        log.error("notice for %s: channel %r is not configured", anon(account), channel_name)
        return "failed"
    try:
        # Where only an approved template gets through (WhatsApp outside its 24-hour window),
        # the channel sends that instead of the messages.
        await channel.notify(
            user_id,
            Notice(
                notice,
                template=app.settings.whatsapp_template_notice,
                params=(notice,),
                locale=locale,
                messages=tuple(messages),
            ),
        )
    except ChannelError as exc:
        if exc.code == "undeliverable":
            return "undeliverable"
        await app.claims.give_back(marker, token)
        raise
    return "sent"


async def _tell_cancelled(
    app: App,
    channels: Mapping[str, Channel],
    day: date,
    marker: Callable[[str], str],
    key: str,
    button: str,
    reason: str | None = None,
) -> dict[str, int]:
    """Send each applicant whose booking of ``day`` its closure cancelled the text ``key`` with
    a "book" button titled ``button``, once (``marker(booking id)`` remembers who was told).
    With ``reason``, the text also gets the closure's reason (the booking's own when empty)."""
    counter = app.counter
    tally: dict[str, int] = {}
    async for booking_id, fields in counter.bookings_of(day):
        if fields.get("status") != "cancelled" or "closed" not in fields:
            continue
        locale = fields.get("locale") if fields.get("locale") in LOCALES else None
        locale = locale or app.settings.default_locale
        text = app.catalog.t(
            locale,
            key,
            office=app.office.name,
            day=app.catalog.format_day(locale, day),
            number=f"{fields['prefix']}-{int(fields['number']):03d}",
            **({} if reason is None else {"reason": reason or fields["closed"]}),
        )
        # The main menu's "book" option: from the menu (where a finished booking leaves the
        # applicant) it starts the booking flow.
        option = Option("book", app.catalog.t(locale, button))
        outcome = await _send(
            app,
            channels,
            fields["account"],
            marker(booking_id),
            [Choices(text, (option,))],
            text,
            locale,
        )
        tally[outcome] = tally.get(outcome, 0) + 1
    return tally


async def notify_closed_core(
    app: App, channels: Mapping[str, Channel], day: date, reason: str
) -> dict[str, int]:
    """Tell each applicant whose booking of ``day`` was cancelled by its closure, once."""
    keys = StaffKeys(app.office.id)
    return await _tell_cancelled(
        app, channels, day, keys.closed_notice, "closure.notice", "closure.rebook", reason=reason
    )


async def notify_reopened_core(
    app: App, channels: Mapping[str, Channel], day: date
) -> dict[str, int]:
    """Tell each applicant whose booking of ``day`` a closure cancelled that the day is open
    again, once; nothing while the day is closed (again)."""
    counter = app.counter
    if await counter.closure(day) is not None:
        return {"closed": 1}
    keys = StaffKeys(app.office.id)
    return await _tell_cancelled(
        app, channels, day, keys.reopened_notice, "closure.reopened", "closure.book_again"
    )


async def dayend_core(app: App, day: date) -> dict[str, int]:
    """Mark ``day``'s bookings never checked in as no-shows and strike their NIKs; in a network,
    the first run at an office also gives its bookings made before account claims existed
    their claims (AccountClaims.backfill; later runs skip it).

    Only for a day that is over, one instance at a time (a lock with a TTL, so a dead worker
    does not block the next run); a second run finds nothing new to mark and records no new
    strike (strikes are keyed by booking).
    """
    if day >= app.office.local_today(app.clock.now()):
        raise ValueError(f"{day} is not over yet")
    keys = StaffKeys(app.office.id)
    token = new_token()
    if not await app.claims.claim(keys.dayend_lock, token, LOCK_TTL_MS):
        return {"locked": 1}
    try:
        tally = await app.desk.mark_no_shows(day)
        if app.account_claims is not None:
            # Once per office, in a network: the claims of bookings made before they existed.
            added = await app.account_claims.backfill(app.office.id, app.seats)
            if added is not None:
                tally["claims_backfilled"] = added
        return tally
    finally:
        await app.claims.give_back(keys.dayend_lock, token)


async def announce_release_core(
    app: App, channels: Mapping[str, Channel], day: date, service: str
) -> dict[str, int]:
    """Admit ``day``'s pre-queue of ``service`` (if nobody did yet) and tell each account."""
    fair = app.release
    await fair.admit(day, service)
    keys = StaffKeys(app.office.id)
    tally: dict[str, int] = {}
    for account, seat in (await fair.outcomes(day, service)).items():
        locale = app.settings.default_locale
        day_text = app.catalog.format_day(locale, day)
        if seat.status == "admitted":
            window = app.office.window(day, seat.window)
            text = app.catalog.t(
                locale,
                "release.admitted",
                day=day_text,
                window=window.label if window else seat.window,
                minutes=app.office.booking.hold_minutes,
            )
        else:
            text = app.catalog.t(locale, "release.full", day=day_text)
        messages: list[Outbound] = [
            Choices(text, (Option("go", app.catalog.t(locale, "release.go")),))
            if seat.status == "admitted"
            else Text(text)
        ]
        marker = keys.admitted_notice(day.isoformat(), service, account)
        outcome = await _send(app, channels, account, marker, messages, text, locale)
        tally[outcome] = tally.get(outcome, 0) + 1
    return tally


def notify_closed(office_id: str, day: str, reason: str) -> str:
    """RQ job for ``/close``."""
    runtime = current()
    app = runtime.app().view(office_id)

    async def job() -> dict[str, int]:
        channels = await runtime.channels()
        return await notify_closed_core(app, channels, date.fromisoformat(day), reason)

    tally = runtime.run(job())
    return f"closure notices for {office_id} {day}: {tally}"


def notify_reopened(office_id: str, day: str) -> str:
    """RQ job for ``/reopen``."""
    runtime = current()
    app = runtime.app().view(office_id)

    async def job() -> dict[str, int]:
        channels = await runtime.channels()
        return await notify_reopened_core(app, channels, date.fromisoformat(day))

    tally = runtime.run(job())
    return f"reopening notices for {office_id} {day}: {tally}"


def run_dayend(office_id: str, day: str | None = None) -> str:
    """RQ job (schedule it daily after closing time); without ``day``: yesterday."""
    runtime = current()
    app = runtime.app().view(office_id)
    when = (
        date.fromisoformat(day)
        if day
        else app.office.local_today(app.clock.now()) - timedelta(days=1)
    )
    return f"day end of {office_id} {when}: {runtime.run(dayend_core(app, when))}"


def announce_release(office_id: str, day: str, service: str) -> str:
    """RQ job, enqueued at ``office.release_at(day)``."""
    runtime = current()
    app = runtime.app().view(office_id)

    async def job() -> dict[str, int]:
        channels = await runtime.channels()
        return await announce_release_core(app, channels, date.fromisoformat(day), service)

    tally = runtime.run(job())
    return f"release of {office_id} {day} {service}: {tally}"
