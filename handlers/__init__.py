"""The conversations of the booking bot. :func:`build_steps` registers them all."""

from __future__ import annotations

from bot.core.dialog import Steps
from handlers import booking, broadcast, closing, menu, mine, staff


def build_steps() -> Steps:
    steps = Steps()
    for step in (
        menu.Menu(),
        menu.Language(),
        menu.Requirements(),
        booking.ChooseService(),
        booking.ChooseDay(),
        booking.WaitRelease(),
        booking.ChooseWindow(),
        booking.EnterNik(),
        booking.EnterName(),
        booking.Confirm(),
        mine.MyBookings(),
        mine.BookingActions(),
        mine.CancelBooking(),
        mine.MoveDay(),
        mine.MoveWindow(),
        mine.ConfirmMove(),
    ):
        steps.add(step)
    steps.on_reset(booking.release_hold)
    staff.register(steps)
    closing.register(steps)
    broadcast.register(steps)
    return steps
