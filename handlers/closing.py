"""``/close DAY REASON`` and ``/reopen DAY`` (admin): each shows what it would do and acts only
on a yes (:class:`handlers.staff.ConfirmStaffAction`).

Closing cancels the day's active bookings; reopening opens the day to new bookings again, and
the applicants whose bookings the closure cancelled are told they can book again (their bookings
stay cancelled: their seats and queue numbers may have gone to others since). Both tell the
applicants through a job (:mod:`workers.dayend`) that sends each notice at most once.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import date

from bot.booking.app import Context
from bot.core.clock import parse_day
from bot.core.dialog import Steps
from handlers.common import format_day
from handlers.staff import (
    Confirmable,
    Pending,
    admitted,
    ask_to_confirm,
    confirmable,
    counter_of,
    here,
    refuse,
    staff_local,
)

log = logging.getLogger(__name__)


async def close(ctx: Context, args: str) -> str | None:
    rest = await admitted(ctx, "close", args, "admin")
    if rest is None:
        return here(ctx)
    args = rest
    first, _, reason = args.partition(" ")
    reason = reason.strip()
    if not first or not reason:
        return await refuse(ctx, "close", args, "usage_close")
    day = parse_day(first)
    if day is None:
        return await refuse(ctx, "close", args, "bad_day", value=first)
    if day < staff_local(ctx).office.local_today(ctx.now()):
        return await refuse(ctx, "close", args, "past_day", day=format_day(ctx, day))
    return await ask_to_confirm(ctx, "close", day=day.isoformat(), reason=reason)


async def _preview_close(ctx: Context, pending: Pending) -> str:
    day = date.fromisoformat(pending["day"])
    per_window: Tally[str] = Tally()
    async for _, fields in counter_of(ctx).bookings_of(day):
        if fields.get("status") == "active":
            per_window[fields.get("window", "?")] += 1
    params = {"day": format_day(ctx, day), "reason": pending["reason"], "iso": day.isoformat()}
    lines = [ctx.t("staff.close_preview", **params)]
    if await counter_of(ctx).closure(day) is not None:
        lines.append(ctx.t("staff.close_again"))
    total = sum(per_window.values())
    lines.append(ctx.t("staff.close_count", count=total))
    for window in sorted(per_window):
        office_window = staff_local(ctx).office.window(day, window)
        label = office_window.label if office_window else window
        lines.append(f"• {label}: {per_window[window]}")
    lines.append(ctx.t("staff.close_undo", iso=day.isoformat()))
    return "\n".join(lines)


async def _apply_close(ctx: Context, pending: Pending) -> None:
    day = date.fromisoformat(pending["day"])
    count = await close_day(ctx, day, pending["reason"])
    ctx.say(ctx.t("staff.closed", day=format_day(ctx, day), count=count, iso=day.isoformat()))


async def close_day(ctx: Context, day: date, reason: str) -> int:
    """Close ``day`` to new bookings, cancel its active bookings (:meth:`BookingDesk.close_day
    <bot.booking.desk.BookingDesk.close_day>`: repeating it finishes a half-done close) and have
    the applicants told."""
    count = await staff_local(ctx).desk.close_day(day, reason, by=ctx.identity)
    await _tell(ctx, day, reason)
    return count


async def reopen(ctx: Context, args: str) -> str | None:
    rest = await admitted(ctx, "reopen", args, "admin")
    if rest is None:
        return here(ctx)
    args = rest
    parts = args.split()
    if len(parts) != 1:
        return await refuse(ctx, "reopen", args, "usage_reopen")
    day = parse_day(parts[0])
    if day is None:
        return await refuse(ctx, "reopen", args, "bad_day", value=parts[0])
    if day < staff_local(ctx).office.local_today(ctx.now()):
        return await refuse(ctx, "reopen", args, "past_day", day=format_day(ctx, day))
    if await counter_of(ctx).closure(day) is None:
        key = (
            "reopen_office_closed" if staff_local(ctx).office.closure(day) else "reopen_not_closed"
        )
        return await refuse(ctx, "reopen", args, key, day=format_day(ctx, day))
    return await ask_to_confirm(ctx, "reopen", day=day.isoformat())


async def _cancelled_by_closure(ctx: Context, day: date) -> int:
    count = 0
    async for _, fields in counter_of(ctx).bookings_of(day):
        if fields.get("status") == "cancelled" and "closed" in fields:
            count += 1
    return count


async def _preview_reopen(ctx: Context, pending: Pending) -> str:
    day = date.fromisoformat(pending["day"])
    closure = await counter_of(ctx).closure(day)
    return ctx.t(
        "staff.reopen_preview",
        day=format_day(ctx, day),
        reason=(closure.reason if closure else "") or "-",
        by=(closure.by if closure else "") or "-",
        count=await _cancelled_by_closure(ctx, day),
    )


async def _apply_reopen(ctx: Context, pending: Pending) -> None:
    day = date.fromisoformat(pending["day"])
    counter = counter_of(ctx)
    if not await counter.reopen_day(day):
        # Someone else reopened it between the preview and this yes.
        await staff_local(ctx).audit.record(
            ctx.identity, "reopen", "unchanged", day=day.isoformat()
        )
        ctx.say(ctx.t("staff.reopen_not_closed", day=format_day(ctx, day)))
        return
    count = await _cancelled_by_closure(ctx, day)
    await staff_local(ctx).audit.record(
        ctx.identity, "reopen", "ok", day=day.isoformat(), to_tell=count
    )
    await _tell(ctx, day)
    ctx.say(ctx.t("staff.reopened", day=format_day(ctx, day), count=count))


async def _tell(ctx: Context, day: date, reason: str | None = None) -> None:
    """Have a worker tell the applicants (workers/dayend.py).

    A process without workers (most tests) leaves the notices to a later run of the job, which
    is safe since it sends each notice at most once.
    """
    jobs = ctx.deps.jobs
    what = "closing" if reason is not None else "reopening"
    if jobs is None:
        log.warning("no job queue: the %s notices for %s wait for a later run", what, day)
        return
    stamp = ctx.now().strftime("%Y%m%d%H%M%S")
    if reason is not None:
        await jobs.tell_closed(staff_local(ctx).office.id, day, reason, stamp=stamp)
    else:
        await jobs.tell_reopened(staff_local(ctx).office.id, day, stamp=stamp)


def register(steps: Steps) -> None:
    steps.command("close", close, goes_to=("staff.confirm",))
    steps.command("reopen", reopen, goes_to=("staff.confirm",))
    confirmable(Confirmable("close", _preview_close, _apply_close, "staff.close_yes"))
    confirmable(Confirmable("reopen", _preview_reopen, _apply_reopen, "staff.reopen_yes"))
