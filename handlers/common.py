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
    """Availability of every window of each day, in one round trip (none where the process's
    snapshot is trusted)."""
    return (await _snapshot_seats(ctx, service, days))[0]


async def _snapshot_seats(
    ctx: Context, service: str, days: list[date]
) -> tuple[list[dict[str, Availability]], tuple[int, ...] | None]:
    deps = ctx.deps
    return await availability.snapshot_seats(
        deps.office, deps.seats, deps.snapshot, deps.clock, service, days
    )


async def day_options(ctx: Context, service: str) -> list[Option]:
    """Open days that still have a free seat for ``service``, soonest first (computed once per
    change of their seats, per language)."""
    days = ctx.deps.office.bookable_days(ctx.now())
    seats, token = await _snapshot_seats(ctx, service, days)

    def build() -> list[Option]:
        options = []
        for day, windows in zip(days, seats, strict=True):
            free = sum(a.free for a in windows.values())
            if free > 0:
                options.append(
                    Option(day.isoformat(), format_day(ctx, day), ctx.t("book.seats_left", n=free))
                )
        return options

    if token is None:
        return build()
    key = ("days", service, ctx.locale, tuple(days))
    return list(ctx.deps.snapshot.memo(key, token, build))


async def window_options(ctx: Context, service: str, day: date) -> list[Option]:
    """Windows of ``day`` with a free seat for ``service``, in time order (computed once per
    change of their seats, per language)."""
    (windows,), token = await _snapshot_seats(ctx, service, [day])

    def build() -> list[Option]:
        return [
            Option(w.id, w.label, ctx.t("book.seats_left", n=windows[w.id].free))
            for w in ctx.deps.office.windows(day)
            if w.id in windows and windows[w.id].free > 0
        ]

    if token is None:
        return build()
    return list(ctx.deps.snapshot.memo(("windows", service, ctx.locale, day), token, build))


def is_bookable(ctx: Context, day: date) -> bool:
    return day in ctx.deps.office.bookable_days(ctx.now())
