"""Staff commands, on every channel: /stats, /quota, /close, /checkin.

A command from an identity that is not staff (or not staff enough) returns None, so the engine
treats the message exactly like any other text an applicant types; the attempt is audited as
denied. Every command's outcome, refusals included, goes to the audit log (:mod:`bot.audit`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from bot.audit import Audit, applicant
from bot.codes import BookingCodes
from bot.counter import CheckInRefused, Counter, NikRegistry
from bot.dialog import MENU, Context, Steps
from bot.errors import BelowBooked, InvalidInput
from bot.office import Service, Window
from handlers.common import format_day

log = logging.getLogger(__name__)

MAX_SEATS = 10_000
ROLES = {"officer": 1, "admin": 2}


def role_of(ctx: Context) -> str | None:
    """The staff role of the user ("officer", "admin"), or None for an applicant."""
    return ctx.app.settings.staff_role(ctx.identity)


def counter_of(ctx: Context) -> Counter:
    return Counter(ctx.app.redis, ctx.office, ctx.seats, ctx.app.clock)


async def _allowed(ctx: Context, command: str, args: str, need: str) -> bool | None:
    """True to go on; None when the command must fall through (not staff); False when staff
    lacks the role (they were told)."""
    role = role_of(ctx)
    audit = Audit.of(ctx.app)
    if role is None:
        await audit.record(applicant(ctx.identity), command, "denied", reason="not_staff")
        return None
    if ROLES[role] < ROLES[need]:
        await audit.record(ctx.identity, command, "denied", reason=f"needs_{need}", args=args)
        ctx.say(ctx.t("staff.admin_only", command=command))
        return False
    return True


def _here(ctx: Context) -> str:
    # After a command the user is asked their current step again, so a staff member in the
    # middle of something does not lose their place.
    return ctx.session.step or MENU


async def _refuse(ctx: Context, command: str, args: str, key: str, **params: Any) -> str:
    await Audit.of(ctx.app).record(ctx.identity, command, "refused", reason=key, args=args)
    ctx.say(ctx.t(f"staff.{key}", **params))
    return _here(ctx)


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _find_window(ctx: Context, day: date, value: str) -> Window | None:
    wanted = value.replace(":", "").replace("\u2013", "-")
    for window in ctx.office.windows(day):
        if wanted in (window.id, window.id.split("-")[0]):
            return window
    return None


def _find_service(ctx: Context, value: str) -> Service | None:
    wanted = value.casefold()
    for service in ctx.office.services:
        if wanted in (service.id, service.prefix.casefold()):
            return service
    return None


async def stats(ctx: Context, args: str) -> str | None:
    allowed = await _allowed(ctx, "stats", args, "officer")
    if not allowed:
        return None if allowed is None else _here(ctx)
    parts = args.split()
    if len(parts) > 1:
        return await _refuse(ctx, "stats", args, "usage_stats")
    today = ctx.office.local_today(ctx.now())
    day = _parse_day(parts[0]) if parts else today
    if day is None:
        return await _refuse(ctx, "stats", args, "bad_day", value=parts[0])
    lines = [ctx.t("staff.stats_head", day=format_day(ctx, day))]
    if await ctx.seats.is_closed(day) or ctx.office.closure(day) is not None:
        lines.append(ctx.t("staff.stats_closed"))
    rows = await counter_of(ctx).stats(day)
    if not rows:
        lines.append(ctx.t("staff.stats_none"))
    for service in ctx.office.services:
        lines.append(f"*{service.name(ctx.locale)}*")
        for row in (r for r in rows if r.service == service.id):
            window = ctx.office.window(day, row.window)
            lines.append(
                ctx.t(
                    "staff.stats_line",
                    window=window.label if window else row.window,
                    capacity=row.capacity,
                    booked=row.booked,
                    held=row.held,
                    checked_in=row.checked_in,
                    no_show=row.no_show,
                )
            )
    ctx.say("\n".join(lines))
    await Audit.of(ctx.app).record(ctx.identity, "stats", "ok", day=day.isoformat())
    return _here(ctx)


async def quota(ctx: Context, args: str) -> str | None:
    allowed = await _allowed(ctx, "quota", args, "admin")
    if not allowed:
        return None if allowed is None else _here(ctx)
    parts = args.split()
    if len(parts) not in (3, 4):
        return await _refuse(ctx, "quota", args, "usage_quota")
    day = _parse_day(parts[0])
    if day is None:
        return await _refuse(ctx, "quota", args, "bad_day", value=parts[0])
    if day < ctx.office.local_today(ctx.now()):
        return await _refuse(ctx, "quota", args, "past_day", day=format_day(ctx, day))
    window = _find_window(ctx, day, parts[1])
    if window is None:
        ids = ", ".join(w.id for w in ctx.office.windows(day)) or "-"
        return await _refuse(ctx, "quota", args, "unknown_window", value=parts[1], windows=ids)
    try:
        seats = int(parts[2])
    except ValueError:
        seats = -1
    if not 0 <= seats <= MAX_SEATS:
        return await _refuse(ctx, "quota", args, "bad_seats", value=parts[2], limit=MAX_SEATS)
    services = ctx.office.services
    if len(parts) == 4:
        service = _find_service(ctx, parts[3])
        if service is None:
            ids = ", ".join(s.id for s in ctx.office.services)
            return await _refuse(
                ctx, "quota", args, "unknown_service", value=parts[3], services=ids
            )
        services = [service]
    audit = Audit.of(ctx.app)
    for service in services:
        name = service.name(ctx.locale)
        try:
            seats_now = await ctx.seats.set_capacity(
                day=day, service=service.id, window=window.id, capacity=seats
            )
        except BelowBooked as exc:
            booked = exc.details.get("booked", 0)
            await audit.record(
                ctx.identity,
                "quota",
                "refused",
                reason="below_booked",
                args=args,
                service=service.id,
            )
            ctx.say(ctx.t("staff.quota_below", service=name, window=window.label, booked=booked))
            continue
        await audit.record(
            ctx.identity,
            "quota",
            "ok",
            day=day.isoformat(),
            window=window.id,
            service=service.id,
            capacity=seats,
        )
        ctx.say(
            ctx.t(
                "staff.quota_set",
                service=name,
                day=format_day(ctx, day),
                window=window.label,
                capacity=seats_now.capacity,
                booked=seats_now.booked,
                held=seats_now.held,
            )
        )
    return _here(ctx)


async def close(ctx: Context, args: str) -> str | None:
    allowed = await _allowed(ctx, "close", args, "admin")
    if not allowed:
        return None if allowed is None else _here(ctx)
    first, _, reason = args.partition(" ")
    reason = reason.strip()
    if not first or not reason:
        return await _refuse(ctx, "close", args, "usage_close")
    day = _parse_day(first)
    if day is None:
        return await _refuse(ctx, "close", args, "bad_day", value=first)
    if day < ctx.office.local_today(ctx.now()):
        return await _refuse(ctx, "close", args, "past_day", day=format_day(ctx, day))
    count = await close_day(ctx, day, reason)
    ctx.say(ctx.t("staff.closed", day=format_day(ctx, day), count=count))
    return _here(ctx)


async def close_day(ctx: Context, day: date, reason: str) -> int:
    """Close ``day`` to new bookings, cancel its active bookings and have the applicants told.

    Closing first means no booking can slip in while the existing ones are cancelled. Running it
    again cancels what is left and changes nothing else, so a half-done close is finished by
    repeating the command.
    """
    app = ctx.app
    await ctx.seats.close_day(day)
    counter = counter_of(ctx)
    registry = NikRegistry(app.redis, app.clock)
    audit = Audit.of(app)
    await audit.record(ctx.identity, "close", "ok", day=day.isoformat(), reason=reason)
    count = 0
    async for booking_id, fields in counter.bookings_of(day):
        if fields.get("status") != "active":
            continue
        booking = await counter.cancel_for_closure(booking_id, day, reason)
        if booking is None:
            continue
        count += 1
        await registry.release(booking.nik_hash, booking.office, booking.id)
        await app.events.cancelled(booking)
        await audit.record(
            applicant(booking.account),
            "cancelled",
            "ok",
            booking=booking.id,
            day=booking.day.isoformat(),
            by=ctx.identity,
            why="day_closed",
        )
    await _enqueue_notices(ctx, day, reason)
    return count


async def _enqueue_notices(ctx: Context, day: date, reason: str) -> None:
    """Queue the job that tells the applicants (workers/dayend.py).

    A process without a queue (most tests) leaves the notices to a later run of
    ``workers.dayend.notify_closed``, which is safe since the job sends each notice at most once.
    """
    queue = ctx.app.queue
    if queue is None:
        log.warning("no job queue: closure notices for %s wait for notify_closed", day)
        return
    await asyncio.to_thread(
        queue.enqueue,
        "workers.dayend.notify_closed",
        ctx.office.id,
        day.isoformat(),
        reason,
        job_id=f"closed-{ctx.office.id}-{day.isoformat()}",
        result_ttl=7 * 24 * 3600,
        failure_ttl=30 * 24 * 3600,
        description=f"tell applicants that {day} is closed",
    )


async def checkin(ctx: Context, args: str) -> str | None:
    allowed = await _allowed(ctx, "checkin", args, "officer")
    if not allowed:
        return None if allowed is None else _here(ctx)
    if not args.strip():
        return await _refuse(ctx, "checkin", args, "usage_checkin")
    try:
        booking_id = BookingCodes.booking_id_of(args)
    except InvalidInput:
        return await _refuse(ctx, "checkin", args, "checkin_format")
    booking = await ctx.seats.get(booking_id)
    if booking is None:
        return await _refuse(ctx, "checkin", args, "checkin_not_found")
    if not ctx.app.codes.verify(args, ctx.office.id, booking.nik_hash):
        return await _refuse(ctx, "checkin", args, "checkin_forged")
    try:
        done = await counter_of(ctx).check_in(booking_id, staff=ctx.identity)
    except CheckInRefused as exc:
        seen = exc.booking or booking
        status = ctx.t(f"status.{seen.status}")
        params: dict[str, Any] = {"day": format_day(ctx, seen.day), "status": status}
        return await _refuse(ctx, "checkin", args, f"checkin_{exc.reason}", **params)
    await NikRegistry(ctx.app.redis, ctx.app.clock).release(done.nik_hash, done.office, done.id)
    audit = Audit.of(ctx.app)
    await audit.record(ctx.identity, "checkin", "ok", booking=done.id, number=done.queue_number)
    await audit.record(
        applicant(done.account), "checked_in", "ok", booking=done.id, by=ctx.identity
    )
    ctx.say(
        ctx.t("staff.checkin_ok", number=done.queue_number, name=done.name, last4=done.nik_last4)
    )
    return _here(ctx)


def register(steps: Steps) -> None:
    steps.command("stats", stats)
    steps.command("quota", quota)
    steps.command("close", close)
    steps.command("checkin", checkin)
