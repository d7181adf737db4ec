"""Staff commands, on every channel: /stats, /quota, /checkin, /masuk (/login) here; /close and
/reopen in :mod:`handlers.closing`; /broadcast in :mod:`handlers.broadcast`.

A command from an identity that is not staff is answered with a note that this identity is not
staff (on the console, with how to make it staff: the role lives in ``ANTREAN_STAFF``, which every
process reads for itself); the attempt is audited as denied. Every command's outcome, refusals
included, goes to the audit log (:mod:`bot.booking.audit`).

A command that changes much (closing or reopening a day, a quota for every service) first shows
what it would do and waits for a yes in :class:`ConfirmStaffAction`; the pending action lives in
the session's data, so a "no", *batal* or *menu* drops it, and each outcome is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.booking.app import Context, OfficeServices
from bot.booking.audit import applicant
from bot.booking.codes import BookingCodes
from bot.booking.counter import Counter, QuotaChange
from bot.booking.errors import CheckInRefused
from bot.booking.office import Service, Window
from bot.core.clock import parse_day
from bot.core.dialog import ANYWHERE, MENU, Goto, Prompt, Reply, Steps
from bot.core.messages import Option
from bot.core.text import fold
from bot.errors import InvalidInput
from handlers.common import format_day, is_network

log = logging.getLogger(__name__)

MAX_SEATS = 10_000
ROLES = {"officer": 1, "admin": 2}


def role_of(ctx: Context) -> str | None:
    """The staff role of the user ("officer", "admin"), or None for an applicant."""
    return ctx.deps.settings.staff_role(ctx.identity)


def counter_of(ctx: Context) -> Counter:
    return staff_local(ctx).counter


# Session data: the office the staff member's command acts on (in a network).
STAFF_OFFICE = "staff_office"


def staff_local(ctx: Context) -> OfficeServices:
    """The services of the office a staff command acts on: the only office of a network of
    one; in a network, the office :func:`admitted` settled (the staff entry's office, or the
    one an admin of every office named with ``@office``), else the default office."""
    deps = ctx.deps
    if not is_network(ctx):
        return deps.home
    office_id = ctx.data.get(STAFF_OFFICE)
    scope = deps.settings.staff_scope(ctx.identity)
    if not isinstance(office_id, str) or office_id not in deps.offices:
        office_id = scope if scope not in (None, "*") else None
    return deps.offices.get(office_id or "", deps.home)


def _office_arg(args: str) -> tuple[str | None, str]:
    """``@kanim-jaksel 2030-03-05`` -> ("kanim-jaksel", "2030-03-05"); no ``@``: (None, args)."""
    if not args.startswith("@"):
        return None, args
    first, _, rest = args.partition(" ")
    return first[1:].strip().lower() or None, rest.strip()


async def admitted(ctx: Context, command: str, args: str, need: str) -> str | None:
    """:func:`allowed`, and in a network, the office the command acts on settled (see
    :func:`staff_local`): the arguments without an ``@office`` in front, or None when the user
    may not use the command here (they were told why)."""
    if not await allowed(ctx, command, args, need):
        return None
    if not is_network(ctx):
        return args
    deps = ctx.deps
    scope = deps.settings.staff_scope(ctx.identity) or "*"
    named, rest = _office_arg(args)
    ctx.data.pop(STAFF_OFFICE, None)
    if scope != "*":
        ctx.data[STAFF_OFFICE] = scope
    if named is not None and named not in deps.offices:
        await refuse(ctx, command, args, "unknown_office", value=named)
        return None
    if scope != "*" and named not in (None, scope):
        # An officer of one office acts on that office only.
        await refuse(ctx, command, args, "other_office", office=deps.offices[scope].office.name)
        return None
    office = named or (scope if scope != "*" else None)
    if office is None:
        await refuse(ctx, command, args, "which_office", name=command)
        return None
    ctx.data[STAFF_OFFICE] = office
    return rest


async def allowed(ctx: Context, command: str, args: str, need: str) -> bool:
    """True to go on; False when the user may not use the command (they were told why)."""
    role = role_of(ctx)
    audit = staff_local(ctx).audit
    if role is None:
        # No arguments in this entry: what an applicant types is theirs, not the office's.
        await audit.record(applicant(ctx.identity), command, "denied", reason="not_staff")
        ctx.say(ctx.t("staff.not_staff", command=command))
        if ctx.channel == "console":
            # Only a console user can be the person who starts the process.
            ctx.say(ctx.t("staff.not_staff_console", identity=ctx.identity))
        return False
    if ROLES[role] < ROLES[need]:
        await audit.record(ctx.identity, command, "denied", reason=f"needs_{need}", args=args)
        ctx.say(ctx.t("staff.admin_only", command=command))
        return False
    return True


def here(ctx: Context) -> str:
    # After a command the user is asked their current step again, so a staff member in the
    # middle of something does not lose their place.
    return ctx.session.step or MENU


async def refuse(
    ctx: Context,
    command: str,
    args: str | None,
    key: str,
    *,
    logged: dict[str, Any] | None = None,
    **params: Any,
) -> str:
    """Say why a command was refused and audit it with its arguments (``None``: not logged)
    and ``logged`` details."""
    await staff_local(ctx).audit.record(
        ctx.identity, command, "refused", reason=key, args=args, **(logged or {})
    )
    ctx.say(ctx.t(f"staff.{key}", **params))
    return here(ctx)


def _find_window(ctx: Context, day: date, value: str) -> Window | None:
    wanted = value.replace(":", "").replace("\u2013", "-")
    for window in staff_local(ctx).office.windows(day):
        if wanted in (window.id, window.id.split("-")[0]):
            return window
    return None


def find_service(ctx: Context, value: str) -> Service | None:
    """A service by its id, its prefix letter or its name in either language (any case), or
    by the start of a name when only one service's name starts so."""
    wanted = fold(value)
    services = staff_local(ctx).office.services
    for service in services:
        if wanted in (service.id, fold(service.prefix), *(fold(n) for n in service.names.values())):
            return service
    starts = [s for s in services if any(fold(n).startswith(wanted) for n in s.names.values())]
    return starts[0] if len(starts) == 1 and wanted else None


def _services_list(ctx: Context) -> str:
    return ", ".join(f"{s.prefix} ({s.name(ctx.locale)})" for s in staff_local(ctx).office.services)


# -- confirmation ----------------------------------------------------------------------------

PENDING = "staff_pending"
# Typed answers to a confirmation, in both languages (buttons and their numbers work too).
YES_WORDS = frozenset({"ya", "y", "iya", "yes", "ok", "oke", "setuju", "lanjut"})
NO_WORDS = frozenset({"tidak", "tdk", "t", "no", "n", "nggak", "gak", "enggak", "jangan"})


def yes_or_no(text: str) -> str | None:
    """ "yes", "no", or None for a typed answer that is neither."""
    word = fold(text).strip(" !.")
    if word in YES_WORDS:
        return "yes"
    if word in NO_WORDS:
        return "no"
    return None


Pending = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Confirmable:
    """A staff action that waits for a yes: ``preview`` says what it would do (asked again
    before each answer, so it is current), ``apply`` does it and says what it did."""

    command: str
    preview: Callable[[Context, Pending], Awaitable[str]]
    apply: Callable[[Context, Pending], Awaitable[None]]
    yes_key: str


CONFIRMABLE: dict[str, Confirmable] = {}


def confirmable(action: Confirmable) -> Confirmable:
    CONFIRMABLE[action.command] = action
    return action


async def ask_to_confirm(ctx: Context, command: str, **params: Any) -> str:
    """Keep ``params`` as the pending action and ask for the confirmation (preview first)."""
    back = here(ctx)
    if back == ConfirmStaffAction.name:  # a new action replaces the one waiting
        back = str((ctx.data.get(PENDING) or {}).get("back", MENU))
    ctx.data[PENDING] = {"command": command, "back": back, **params}
    await staff_local(ctx).audit.record(ctx.identity, command, "previewed", **params)
    return ConfirmStaffAction.name


def _details(pending: Pending) -> dict[str, Any]:
    return {k: v for k, v in pending.items() if k not in ("command", "back")}


class ConfirmStaffAction:
    name = "staff.confirm"
    goes_to = (ANYWHERE,)  # back where the staff member was

    async def ask(self, ctx: Context) -> Prompt:
        pending = ctx.data.get(PENDING)
        action = CONFIRMABLE.get(pending.get("command", "")) if pending else None
        if pending is None or action is None:
            ctx.data.pop(PENDING, None)
            raise Goto(MENU)
        options = [Option("yes", ctx.t(action.yes_key)), Option("no", ctx.t("staff.confirm_no"))]
        # Free text so that "yes" and "ya" are understood whatever the buttons say.
        return Prompt(await action.preview(ctx, pending), options, free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        pending = ctx.data.get(PENDING)
        action = CONFIRMABLE.get(pending.get("command", "")) if pending else None
        if pending is None or action is None:
            return MENU
        choice = reply.option or yes_or_no(reply.text)
        if choice not in ("yes", "no"):
            raise InvalidInput("staff.confirm_unclear")
        ctx.data.pop(PENDING, None)
        back = str(pending.get("back") or MENU)
        if choice == "no":
            await staff_local(ctx).audit.record(
                ctx.identity, action.command, "cancelled", how="no", **_details(pending)
            )
            ctx.say(ctx.t("staff.not_done"))
            return back
        await action.apply(ctx, pending)
        return back


async def _drop_pending(ctx: Context) -> None:
    """*batal*, *menu* (or an error) while a staff action waits: it is dropped, and audited."""
    pending = ctx.data.pop(PENDING, None)
    if pending and pending.get("command") in CONFIRMABLE:
        await staff_local(ctx).audit.record(
            ctx.identity, str(pending["command"]), "cancelled", how="word", **_details(pending)
        )
    if "bc_audience" in ctx.data:  # a broadcast being written (handlers/broadcast.py)
        await staff_local(ctx).audit.record(
            ctx.identity, "broadcast", "cancelled", how="word", audience=ctx.data["bc_audience"]
        )


# -- /stats ----------------------------------------------------------------------------------


async def stats(ctx: Context, args: str) -> str | None:
    rest = await admitted(ctx, "stats", args, "officer")
    if rest is None:
        return here(ctx)
    args = rest
    parts = args.split()
    if len(parts) > 1:
        return await refuse(ctx, "stats", args, "usage_stats")
    today = staff_local(ctx).office.local_today(ctx.now())
    day = parse_day(parts[0]) if parts else today
    if day is None:
        return await refuse(ctx, "stats", args, "bad_day", value=parts[0])
    lines = [ctx.t("staff.stats_head", day=format_day(ctx, day))]
    counter = counter_of(ctx)
    closure = await counter.closure(day)
    if closure is not None:
        lines.append(await _closed_day_stats(ctx, counter, day, closure.reason, closure.by))
    elif (why := staff_local(ctx).office.closure(day)) is not None:
        if why.startswith("holiday:"):
            holiday = staff_local(ctx).office.holiday_name(day, ctx.locale) or why.partition(":")[2]
            lines.append(ctx.t("staff.stats_holiday", holiday=holiday))
        else:
            lines.append(ctx.t(f"staff.stats_{why}"))
    else:
        rows = await counter.stats(day)
        for service in staff_local(ctx).office.services:
            lines.append(f"*{service.name(ctx.locale)}*")
            for row in (r for r in rows if r.service == service.id):
                window = staff_local(ctx).office.window(day, row.window)
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
    lines.append(await _ikm_line(ctx, day))
    ctx.say("\n".join(lines))
    await staff_local(ctx).audit.record(ctx.identity, "stats", "ok", day=day.isoformat())
    return here(ctx)


async def _ikm_line(ctx: Context, day: date) -> str:
    """The day's satisfaction index (handlers/survey.py): respondents, score and grade."""
    found = (await staff_local(ctx).desk.surveys.day(day, comments=0)).index
    if found is None:
        return ctx.t("ikm.stats_none")
    return ctx.t(
        "ikm.stats_line",
        respondents=found.respondents,
        score=found.converted,
        grade=found.category,
        label=ctx.t(f"ikm.grade_{found.category}"),
    )


async def _closed_day_stats(ctx: Context, counter: Counter, day: date, reason: str, by: str) -> str:
    cancelled = active = 0
    async for _, fields in counter.bookings_of(day):
        if fields.get("status") == "cancelled" and "closed" in fields:
            cancelled += 1
        elif fields.get("status") == "active":
            active += 1
    text = ctx.t(
        "staff.stats_closed",
        reason=reason or "-",
        by=by or "-",
        cancelled=cancelled,
        iso=day.isoformat(),
    )
    if active:
        # A close that stopped half-way (a crash): repeating it finishes the job.
        text += "\n" + ctx.t("staff.stats_closed_active", active=active, iso=day.isoformat())
    return text


# -- /quota ----------------------------------------------------------------------------------


async def quota(ctx: Context, args: str) -> str | None:
    rest = await admitted(ctx, "quota", args, "admin")
    if rest is None:
        return here(ctx)
    args = rest
    parts = args.split()
    if len(parts) < 3:
        return await refuse(ctx, "quota", args, "usage_quota")
    day = parse_day(parts[0])
    if day is None:
        return await refuse(ctx, "quota", args, "bad_day", value=parts[0])
    if day < staff_local(ctx).office.local_today(ctx.now()):
        return await refuse(ctx, "quota", args, "past_day", day=format_day(ctx, day))
    window = _find_window(ctx, day, parts[1])
    if window is None:
        ids = ", ".join(w.id for w in staff_local(ctx).office.windows(day)) or "-"
        return await refuse(ctx, "quota", args, "unknown_window", value=parts[1], windows=ids)
    try:
        seats = int(parts[2])
    except ValueError:
        seats = -1
    if not 0 <= seats <= MAX_SEATS:
        return await refuse(ctx, "quota", args, "bad_seats", value=parts[2], limit=MAX_SEATS)
    if len(parts) == 3:
        # Every service at once changes much: show what it would do and ask first.
        return await ask_to_confirm(
            ctx, "quota", day=day.isoformat(), window=window.id, capacity=seats
        )
    named = " ".join(parts[3:])
    service = find_service(ctx, named)
    if service is None:
        return await refuse(
            ctx, "quota", args, "unknown_service", value=named, services=_services_list(ctx)
        )
    await _set_quota(ctx, day, window, seats, [service])
    return here(ctx)


async def _preview_quota(ctx: Context, pending: Pending) -> str:
    day = date.fromisoformat(pending["day"])
    window = staff_local(ctx).office.window(day, pending["window"])
    if window is None:  # the office file changed since the command
        raise Goto(MENU)
    seats = int(pending["capacity"])
    services = staff_local(ctx).office.services
    # The same script as the change, without writing: the preview cannot disagree with it.
    changes = await counter_of(ctx).set_quota(
        day, window.id, seats, [s.id for s in services], dry_run=True
    )
    lines = [
        ctx.t(
            "staff.quota_preview",
            day=format_day(ctx, day),
            window=window.label,
            seats=seats,
            n=len(services),
        )
    ]
    lines += [_quota_line(ctx, "quota_would_", change, seats) for change in changes]
    lines += _overflow_lines(ctx, changes, seats)
    lines.append(
        ctx.t(
            "staff.quota_one_service",
            iso=day.isoformat(),
            window=window.id,
            seats=seats,
            prefix=services[0].prefix,
        )
    )
    return "\n".join(lines)


def _quota_line(ctx: Context, key: str, change: QuotaChange, seats: int) -> str:
    """One service's line of a quota preview (``quota_would_``) or report (``quota_``)."""
    return ctx.t(
        f"staff.{key}{change.outcome}",
        service=_service_name(ctx, change.service),
        before=change.before,
        capacity=seats,
        booked=change.booked,
        held=change.held,
    )


def _overflow_lines(ctx: Context, changes: list[QuotaChange], seats: int) -> list[str]:
    """A note per service whose new capacity passes its window's range of queue numbers."""
    return [
        ctx.t(
            "staff.quota_overflow",
            service=_service_name(ctx, change.service),
            block=change.block,
        )
        for change in changes
        if change.overflows(seats)
    ]


async def _apply_quota(ctx: Context, pending: Pending) -> None:
    day = date.fromisoformat(pending["day"])
    window = staff_local(ctx).office.window(day, pending["window"])
    if window is None:  # the office file changed in between
        ctx.say(ctx.t("staff.not_done"))
        return
    await _set_quota(
        ctx, day, window, int(pending["capacity"]), list(staff_local(ctx).office.services)
    )


async def _set_quota(
    ctx: Context, day: date, window: Window, seats: int, services: list[Service]
) -> list[QuotaChange]:
    """Set the capacity in one script and say exactly what changed and what did not."""
    changes = await counter_of(ctx).set_quota(day, window.id, seats, [s.id for s in services])
    changed = [c for c in changes if c.outcome == "set"]
    lines = [
        ctx.t(
            "staff.quota_done",
            day=format_day(ctx, day),
            window=window.label,
            changed=len(changed),
            n=len(changes),
        )
    ]
    lines += [_quota_line(ctx, "quota_", change, seats) for change in changes]
    lines += _overflow_lines(ctx, changes, seats)
    ctx.say("\n".join(lines))

    def ids(outcome: str) -> str | None:
        return ",".join(c.service for c in changes if c.outcome == outcome) or None

    await staff_local(ctx).audit.record(
        ctx.identity,
        "quota",
        "ok" if changed else "unchanged",
        day=day.isoformat(),
        window=window.id,
        capacity=seats,
        changed=ids("set"),
        same=ids("same"),
        below_booked=ids("below"),
    )
    return changes


def _service_name(ctx: Context, service_id: str) -> str:
    service = staff_local(ctx).office.service(service_id)
    return service.name(ctx.locale) if service else service_id


# -- /checkin --------------------------------------------------------------------------------


async def checkin(ctx: Context, args: str) -> str | None:
    rest = await admitted(ctx, "checkin", args, "officer")
    if rest is None:
        return here(ctx)
    args = rest
    # The argument is a booking code, a credential that admits a person; a mistyped one may be
    # a NIK. Neither goes to the log: the booking id (once the code parses) says enough.
    if not args.strip():
        return await refuse(ctx, "checkin", None, "usage_checkin")
    try:
        booking_id = BookingCodes.booking_id_of(args)
    except InvalidInput:
        return await refuse(ctx, "checkin", None, "checkin_format")
    booking = await staff_local(ctx).seats.get(booking_id)
    if booking is None:
        return await refuse(
            ctx, "checkin", None, "checkin_not_found", logged={"booking": booking_id}
        )
    if not ctx.deps.codes.verify(args, staff_local(ctx).office.id, booking.nik_hash):
        return await refuse(ctx, "checkin", None, "checkin_forged", logged={"booking": booking_id})
    try:
        done = await staff_local(ctx).desk.check_in(booking_id, staff=ctx.identity)
    except CheckInRefused as exc:
        seen = exc.booking or booking
        params: dict[str, Any] = {
            "day": format_day(ctx, seen.day),
            "status": ctx.t(f"status.{seen.status}"),
        }
        return await refuse(
            ctx,
            "checkin",
            None,
            f"checkin_{exc.reason}",
            logged={"booking": booking_id},
            **params,
        )
    ctx.say(
        ctx.t("staff.checkin_ok", number=done.queue_number, name=done.name, last4=done.nik_last4)
    )
    return here(ctx)


# -- /masuk, /login --------------------------------------------------------------------------


async def sign_in_link(ctx: Context, command: str, args: str = "") -> str | None:
    """A single-use link to the staff pages, bound to this identity, its role and the office
    (bot/booking/staff_access.py; in a network the link names the office, whose pages the
    session is then bound to: an admin of every office names it, ``/masuk @office``). The grant
    is stored with the turn's save, like the audit entry: no round trip of its own."""
    rest = await admitted(ctx, command, args.strip(), "officer")
    if rest is None:
        return here(ctx)
    role = role_of(ctx)
    assert role is not None  # allowed() said so
    access = staff_local(ctx).staff_access
    token, grant = access.issue(ctx.identity, role, ctx.locale)
    ctx.later(grant)
    base = ctx.deps.settings.public_base_url()
    link = f"{base}/staff/masuk?t={token}&lang={ctx.locale}"
    if is_network(ctx):
        link += f"&o={staff_local(ctx).office.id}"
    ctx.say(ctx.t("staff.signin_link", link=link, minutes=access.link_minutes))
    ctx.later(staff_local(ctx).audit.entry(ctx.identity, "signin_link", "ok", role=role))
    return here(ctx)


async def masuk(ctx: Context, args: str) -> str | None:
    return await sign_in_link(ctx, "masuk", args)


async def login(ctx: Context, args: str) -> str | None:
    return await sign_in_link(ctx, "login", args)


def register(steps: Steps) -> None:
    steps.command("stats", stats)
    steps.command("masuk", masuk)
    steps.command("login", login)
    steps.command("quota", quota, goes_to=(ConfirmStaffAction.name,))
    steps.command("checkin", checkin)
    steps.add(ConfirmStaffAction())
    steps.on_reset(_drop_pending)
    confirmable(Confirmable("quota", _preview_quota, _apply_quota, "staff.quota_yes"))
