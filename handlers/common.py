"""Pieces several conversations share: the turn's office, dates in the user's language, day and
window choices."""

from __future__ import annotations

from datetime import date, datetime

from bot.booking import availability
from bot.booking.app import OFFICE_KEY, Context, OfficeServices
from bot.booking.network import zone_label
from bot.booking.seats import Availability
from bot.core.dialog import MENU, Goto
from bot.core.messages import Option

# Session data: the office this conversation is about (a network's; a network of one needs none).
OFFICE = OFFICE_KEY
# In the user's memo: the office last used (offered first next time).
LAST_OFFICE = "office"


def local(ctx: Context) -> OfficeServices:
    """The services of the turn's office: the only office of a network of one, else the office
    the conversation chose (kept in its data). Without one, back to the menu."""
    deps = ctx.deps
    if len(deps.offices) == 1:
        return deps.home
    office_id = ctx.data.get(OFFICE)
    services = deps.offices.get(office_id) if isinstance(office_id, str) else None
    if services is None:
        raise Goto(MENU)
    return services


def is_network(ctx: Context) -> bool:
    """Whether the deployment has more than one office (and so asks which)."""
    return len(ctx.deps.offices) > 1


def clock_time(ctx: Context, when: datetime) -> str:
    """``when`` as the turn's office's wall-clock time: ``08:00``, with the zone in a network
    (``08:00 WITA``), where offices keep different time."""
    office = local(ctx).office
    shown = f"{when.astimezone(office.tz):%H:%M}"
    return f"{shown} {zone_label(office.timezone)}" if is_network(ctx) else shown


def window_label(ctx: Context, label: str) -> str:
    """A window's label (``08:00-09:00``), with the office's zone in a network."""
    return f"{label} {zone_label(local(ctx).office.timezone)}" if is_network(ctx) else label


def format_day(ctx: Context, day: date) -> str:
    return ctx.deps.catalog.format_day(ctx.locale, day)


def service_name(ctx: Context, service_id: str) -> str:
    service = local(ctx).office.service(service_id)
    return service.name(ctx.locale) if service else service_id


async def free_seats(ctx: Context, service: str, days: list[date]) -> list[dict[str, Availability]]:
    """Availability of every window of each day, in one round trip (none where the process's
    snapshot is trusted)."""
    return (await _snapshot_seats(ctx, service, days))[0]


async def _snapshot_seats(
    ctx: Context, service: str, days: list[date]
) -> tuple[list[dict[str, Availability]], tuple[int, ...] | None]:
    deps, here = ctx.deps, local(ctx)
    return await availability.snapshot_seats(
        here.office, here.seats, deps.snapshot, deps.clock, service, days
    )


async def day_options(ctx: Context, service: str) -> list[Option]:
    """Open days that still have a free seat for ``service``, soonest first (computed once per
    change of their seats, per language)."""
    office = local(ctx).office
    days = office.bookable_days(ctx.now())
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
    key = ("days", office.id, service, ctx.locale, tuple(days))
    return list(ctx.deps.snapshot.memo(key, token, build))


async def window_options(ctx: Context, service: str, day: date) -> list[Option]:
    """Windows of ``day`` with a free seat for ``service``, in time order (computed once per
    change of their seats, per language)."""
    office = local(ctx).office
    (windows,), token = await _snapshot_seats(ctx, service, [day])

    def build() -> list[Option]:
        return [
            Option(w.id, w.label, ctx.t("book.seats_left", n=windows[w.id].free))
            for w in office.windows(day)
            if w.id in windows and windows[w.id].free > 0
        ]

    if token is None:
        return build()
    return list(
        ctx.deps.snapshot.memo(("windows", office.id, service, ctx.locale, day), token, build)
    )


def is_bookable(ctx: Context, day: date) -> bool:
    return day in local(ctx).office.bookable_days(ctx.now())
