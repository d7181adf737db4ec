"""The chat notices of the day at the counter (issue #15, steps 5 and 6).

:func:`tell_called` runs after each call to a counter (call next, recall: the booking desk asks
for it, bot/booking/desk.py): the applicant called is told their number and counter ("Nomor
A-017, silakan ke Loket 3"), once per call; then each applicant checked in and waiting with at
most :data:`AHEAD` numbers ahead of them in the waiting line is told how many, once per
booking. :func:`tell_served` runs after a counter marks a booking served: the applicant is
thanked and invited to the satisfaction survey (handlers/survey.py), with two buttons, once per
booking. Every send claims a sent-marker first and gives it back only when the send failed
(workers/dayend.py ``_send``), so a job that runs twice tells nobody twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from bot.booking.app import App
from bot.booking.survey import invitation, note_invited
from bot.core.channel import Channel
from bot.core.i18n import LOCALES
from bot.core.messages import Choices, Text
from bot.infra.keys import StaffKeys
from workers.dayend import _send
from workers.runtime import current

# Applicants this many numbers (or fewer) from being called are told so, once.
AHEAD = 3


def _locale(app: App, fields: Mapping[str, str]) -> str:
    locale = fields.get("locale", "")
    return locale if locale in LOCALES else app.settings.default_locale


def _number(fields: Mapping[str, str]) -> str:
    return f"{fields.get('prefix', '')}-{int(fields.get('number') or 0):03d}"


async def tell_called_core(
    app: App,
    channels: Mapping[str, Channel],
    day: date,
    booking_id: str,
    calls: int,
    counter: int | None = None,
) -> dict[str, int]:
    """Tell the applicant of ``booking_id`` (its ``calls``-th call) and those now at most
    :data:`AHEAD` numbers away; a tally of outcomes (sent, skipped, ...)."""
    keys = StaffKeys(app.office.id)
    called, waiting = await app.desk.calls.notice_targets(day, booking_id, AHEAD)
    tally: dict[str, int] = {}

    async def send(account: str, marker: str, text: str, locale: str) -> None:
        outcome = await _send(app, channels, account, marker, [Text(text)], text, locale)
        tally[outcome] = tally.get(outcome, 0) + 1

    if called.get("status") == "called" and called.get("account"):
        locale = _locale(app, called)
        number = _number(called)
        where = counter or int(called.get("counter") or 0)
        text = app.catalog.t(locale, "calls.called", number=number, counter=where)
        await send(called["account"], keys.called_notice(booking_id, calls), text, locale)
    for ahead, fields in enumerate(waiting):
        if not fields.get("account"):
            continue
        locale = _locale(app, fields)
        key = "calls.next" if ahead == 0 else "calls.ahead"
        text = app.catalog.t(locale, key, number=_number(fields), ahead=ahead)
        await send(fields["account"], keys.ahead_notice(fields["id"]), text, locale)
    return tally


def tell_called(office_id: str, day: str, booking_id: str, calls: str) -> str:
    """RQ job after a call to a counter."""
    runtime = current()
    app = runtime.app().view(office_id)

    async def job() -> dict[str, int]:
        channels = await runtime.channels()
        return await tell_called_core(
            app, channels, date.fromisoformat(day), booking_id, int(calls)
        )

    tally = runtime.run(job())
    return f"call notices for {office_id} {booking_id}: {tally}"


async def tell_served_core(
    app: App, channels: Mapping[str, Channel], booking_id: str
) -> dict[str, int]:
    """Thank the applicant of ``booking_id`` and invite them to the survey, once; nothing for
    a booking that is not served (or has no account)."""
    booking = await app.seats.get(booking_id)
    if booking is None or booking.status != "served" or not booking.account:
        return {}
    locale = _locale(app, {"locale": booking.locale})
    text, options = invitation(app.catalog, locale, app.office.id, booking)
    marker = StaffKeys(app.office.id).served_notice(booking_id)
    # First, so that /survei finds it as soon as the invitation is read.
    await note_invited(app.redis, booking.account, app.office.id, booking_id)
    outcome = await _send(
        app, channels, booking.account, marker, [Choices(text, options)], text, locale
    )
    return {outcome: 1}


def tell_served(office_id: str, day: str, booking_id: str) -> str:
    """RQ job after a booking was served at a counter (``day``: the day it was served)."""
    runtime = current()
    app = runtime.app().view(office_id)

    async def job() -> dict[str, int]:
        channels = await runtime.channels()
        return await tell_served_core(app, channels, booking_id)

    tally = runtime.run(job())
    return f"survey invitation for {office_id} {booking_id} ({day}): {tally}"
