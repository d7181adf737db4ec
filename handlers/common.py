"""Pieces several conversations share: dates in the user's language, day and window choices."""

from __future__ import annotations

from datetime import date

from bot.booking import availability
from bot.booking.app import Context
from bot.booking.seats import Availability
from bot.core.messages import Option


def format_day(ctx: Context, day: date) -> str:
    return ctx.deps.catalog.format_day(ctx.locale, day)


def service_name(ctx: Context, service_id: str) -> str:
    service = ctx.deps.office.service(service_id)
    return service.name(ctx.locale) if service else service_id


async def free_seats(ctx: Context, service: str, days: list[date]) -> list[dict[str, Availability]]:
    """Availability of every window of each day, in one round trip."""
    return await availability.free_seats(ctx.deps.office, ctx.deps.seats, service, days)


async def day_options(ctx: Context, service: str) -> list[Option]:
    """Open days that still have a free seat for ``service``, soonest first."""
    days = ctx.deps.office.bookable_days(ctx.now())
    options = []
    for day, windows in zip(days, await free_seats(ctx, service, days), strict=True):
        free = sum(a.free for a in windows.values())
        if free > 0:
            options.append(
                Option(day.isoformat(), format_day(ctx, day), ctx.t("book.seats_left", n=free))
            )
    return options


async def window_options(ctx: Context, service: str, day: date) -> list[Option]:
    """Windows of ``day`` with a free seat for ``service``, in time order."""
    (windows,) = await free_seats(ctx, service, [day])
    return [
        Option(w.id, w.label, ctx.t("book.seats_left", n=windows[w.id].free))
        for w in ctx.deps.office.windows(day)
        if w.id in windows and windows[w.id].free > 0
    ]


def is_bookable(ctx: Context, day: date) -> bool:
    return day in ctx.deps.office.bookable_days(ctx.now())
