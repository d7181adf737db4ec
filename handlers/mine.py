"""My booking: show it (with code and QR), cancel it, or reschedule it once."""

from __future__ import annotations

from datetime import date, timedelta

from bot.booking.app import Context
from bot.booking.codes import qr_filename, qr_png
from bot.booking.errors import AlreadyRescheduled, BookingNotFound, DayClosed, SoldOut
from bot.booking.nik import mask
from bot.booking.seats import Booking
from bot.core.clock import parse_day
from bot.core.dialog import MENU, Goto, Prompt, Reply
from bot.core.messages import Image, Option
from bot.errors import InvalidInput
from handlers.booking import active_bookings, note_booked
from handlers.common import (
    OFFICE,
    day_options,
    format_day,
    is_bookable,
    is_network,
    local,
    service_name,
    window_label,
    window_options,
)


async def _booking(ctx: Context) -> Booking:
    """The booking this conversation is about; back to the list if it is gone."""
    booking_id = ctx.data.get("bk")
    booking = await local(ctx).seats.get(booking_id) if booking_id else None
    if booking is None or not booking.active or booking.account != ctx.identity:
        ctx.data.pop("bk", None)
        raise Goto("mine")
    return booking


def _window_label(ctx: Context, booking: Booking) -> str:
    window = local(ctx).office.window(booking.day, booking.window)
    return window_label(ctx, window.label) if window else booking.window


def _before_cutoff(ctx: Context, booking: Booking, hours: int) -> bool:
    start = local(ctx).office.window_start(booking.day, booking.window)
    return ctx.now() <= start - timedelta(hours=hours)


def _code(ctx: Context, booking: Booking) -> str:
    return ctx.deps.codes.code(local(ctx).office.id, booking.id, booking.nik_hash)


class MyBookings:
    name = "mine"
    goes_to = ("mine.booking",)

    async def ask(self, ctx: Context) -> Prompt:
        found = await active_bookings(ctx)
        note_booked(ctx, bool(found))  # read anyway: the hint is kept true for free
        if not found:
            ctx.say(ctx.t("mine.none"))
            raise Goto(MENU)
        if len(found) == 1:
            office_id, booking = found[0]
            _about(ctx, office_id, booking.id)
            raise Goto("mine.booking")
        options = []
        for office_id, b in found:
            ctx.data[OFFICE] = office_id  # what the labels below are read against
            where = f" · {local(ctx).office.name}" if is_network(ctx) else ""
            options.append(
                Option(
                    f"{office_id}/{b.id}" if is_network(ctx) else b.id,
                    f"{b.queue_number} · {format_day(ctx, b.day)}",
                    f"{service_name(ctx, b.service)}, {_window_label(ctx, b)}{where}",
                )
            )
        ctx.data.pop(OFFICE, None)
        return Prompt(ctx.t("mine.pick"), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        office_id, _, booking_id = (reply.option or "").rpartition("/")
        _about(ctx, office_id, booking_id)
        return "mine.booking"


def _about(ctx: Context, office_id: str, booking_id: str) -> None:
    """This conversation is about the booking ``booking_id`` of the office ``office_id``."""
    ctx.data["bk"] = booking_id
    if is_network(ctx):
        ctx.data[OFFICE] = office_id


async def _serving_now(ctx: Context, b: Booking) -> str:
    """For a booking of today: the number called last at the office (one read), else ''."""
    desk = local(ctx).desk
    if b.day != desk.today():
        return ""
    latest = await desk.calls.latest(b.day, 1)
    if not latest:
        return "\n" + ctx.t("mine.serving_none")
    now = latest[0]
    return "\n" + ctx.t(
        "mine.serving_now", number=now.number, counter=ctx.t("calls.counter", counter=now.counter)
    )


class BookingActions:
    name = "mine.booking"
    goes_to = ("mine", "mine.cancel", "mine.move_day")

    async def ask(self, ctx: Context) -> Prompt:
        b = await _booking(ctx)
        text = ctx.t(
            "mine.details",
            number=b.queue_number,
            service=service_name(ctx, b.service),
            day=format_day(ctx, b.day),
            window=_window_label(ctx, b),
            name=b.name,
            nik=mask("0" * 12 + b.nik_last4),
            code=_code(ctx, b),
        )
        text += await _serving_now(ctx, b)
        options = [Option("code", ctx.t("mine.show_code")), Option("cancel", ctx.t("mine.cancel"))]
        if not b.rescheduled:
            options.append(Option("move", ctx.t("mine.move")))
        options.append(Option("menu", ctx.t("mine.back")))
        return Prompt(text, options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        b = await _booking(ctx)
        rules = local(ctx).office.booking
        if reply.option == "code":
            code = _code(ctx, b)
            caption = ctx.t("book.qr_caption", number=b.queue_number, code=code)
            ctx.show(Image(qr_png(code), caption=caption, filename=qr_filename(code)))
            return MENU
        if reply.option == "cancel":
            if not _before_cutoff(ctx, b, rules.cancel_cutoff_hours):
                ctx.say(ctx.t("mine.cancel_cutoff", hours=rules.cancel_cutoff_hours))
                return MENU
            return "mine.cancel"
        if reply.option == "move":
            if b.rescheduled:
                ctx.say(ctx.t("mine.already_moved"))
                return MENU
            if not _before_cutoff(ctx, b, rules.reschedule_cutoff_hours):
                hours, cancel = rules.reschedule_cutoff_hours, rules.cancel_cutoff_hours
                if not _before_cutoff(ctx, b, cancel):
                    ctx.say(ctx.t("mine.move_cutoff_late", hours=hours, cancel=cancel))
                    return MENU
                # Cancelling and booking again is still possible: the cancel button is here.
                ctx.say(ctx.t("mine.move_cutoff", hours=hours, cancel=cancel))
                return "mine.booking"
            return "mine.move_day"
        return MENU


class CancelBooking:
    name = "mine.cancel"
    goes_to = ("mine", "mine.booking")

    async def ask(self, ctx: Context) -> Prompt:
        b = await _booking(ctx)
        text = ctx.t("mine.cancel_confirm", number=b.queue_number, day=format_day(ctx, b.day))
        return Prompt(text, [Option("yes", ctx.t("common.yes")), Option("no", ctx.t("common.no"))])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        if reply.option != "yes":
            return "mine.booking"
        b = await _booking(ctx)
        hours = local(ctx).office.booking.cancel_cutoff_hours
        if not _before_cutoff(ctx, b, hours):
            ctx.say(ctx.t("mine.cancel_cutoff", hours=hours))
            return MENU
        try:
            await local(ctx).desk.cancel(b.id, account=ctx.identity, later=ctx.later)
        except BookingNotFound:
            ctx.say(ctx.t("mine.gone"))
            return MENU
        # Below the cap now, whatever else the account holds: no early check when booking next.
        note_booked(ctx, False)
        ctx.data.clear()
        ctx.say(ctx.t("mine.cancelled", number=b.queue_number))
        return MENU


def _target_day(ctx: Context) -> date:
    day = parse_day(ctx.data.get("to_day"))
    if day is None:
        raise Goto("mine.move_day")
    return day


class MoveDay:
    name = "mine.move_day"
    goes_to = ("mine", "mine.booking", "mine.move_window")

    async def ask(self, ctx: Context) -> Prompt:
        b = await _booking(ctx)
        options = await day_options(ctx, b.service)
        if not options:
            ctx.say(ctx.t("book.no_days"))
            raise Goto("mine.booking")
        return Prompt(ctx.t("mine.move_day"), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        day = parse_day(reply.option)
        if day is None or not is_bookable(ctx, day):
            raise InvalidInput("book.day_gone")
        ctx.data["to_day"] = day.isoformat()
        return "mine.move_window"


class MoveWindow:
    name = "mine.move_window"
    goes_to = ("mine", "mine.move_day", "mine.move_confirm")

    async def ask(self, ctx: Context) -> Prompt:
        b = await _booking(ctx)
        day = _target_day(ctx)
        options = [
            o
            for o in await window_options(ctx, b.service, day)
            if not (day == b.day and o.id == b.window)
        ]
        if not options:
            ctx.say(ctx.t("book.day_full"))
            raise Goto("mine.move_day")
        return Prompt(ctx.t("mine.move_window", day=format_day(ctx, day)), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["to_win"] = reply.option
        return "mine.move_confirm"


class ConfirmMove:
    name = "mine.move_confirm"
    goes_to = ("mine", "mine.booking", "mine.move_day", "mine.move_window")

    async def ask(self, ctx: Context) -> Prompt:
        b = await _booking(ctx)
        day = _target_day(ctx)
        window = local(ctx).office.window(day, ctx.data.get("to_win", ""))
        if window is None:
            raise Goto("mine.move_window")
        text = ctx.t(
            "mine.move_summary",
            number=b.queue_number,
            day=format_day(ctx, day),
            window=window_label(ctx, window.label),
        )
        return Prompt(text, [Option("yes", ctx.t("common.yes")), Option("no", ctx.t("common.no"))])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        if reply.option != "yes":
            return "mine.booking"
        b = await _booking(ctx)
        day = _target_day(ctx)
        window = local(ctx).office.window(day, ctx.data.get("to_win", ""))
        if window is None or not is_bookable(ctx, day):
            ctx.say(ctx.t("book.day_gone"))
            return "mine.move_day"
        try:
            moved = await local(ctx).desk.move(
                b, account=ctx.identity, day=day, window=window, later=ctx.later
            )
        except SoldOut:
            ctx.say(ctx.t("book.window_full"))
            return "mine.move_window"
        except DayClosed:
            ctx.say(ctx.t("book.day_gone"))
            return "mine.move_day"
        except AlreadyRescheduled:
            ctx.say(ctx.t("mine.already_moved"))
            return MENU
        except BookingNotFound:
            ctx.say(ctx.t("mine.gone"))
            return MENU
        ctx.data.clear()
        ctx.say(
            ctx.t(
                "mine.moved",
                number=moved.queue_number,
                day=format_day(ctx, moved.day),
                window=window_label(ctx, window.label),
            )
        )
        return MENU
