"""The conversations of the booking bot. :func:`build_steps` registers them all."""

from __future__ import annotations

from bot.core.dialog import CANCEL, HELP, LANGUAGE, MENU, TO_MENU, Steps
from handlers import booking, broadcast, closing, menu, mine, offices, staff, survey

# Words that work at every step, in both languages. Commands like /start are the same words.
WORDS = {
    "menu": TO_MENU,
    "start": TO_MENU,
    "mulai": TO_MENU,
    "batal": CANCEL,
    "cancel": CANCEL,
    "bantuan": HELP,
    "help": HELP,
    "tolong": HELP,
    "bahasa": LANGUAGE,
    "language": LANGUAGE,
}


def build_steps() -> Steps:
    steps = Steps(menu=MENU, language=menu.Language.name, words=WORDS)
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
        *offices.STEPS,
    ):
        steps.add(step)
    steps.on_reset(booking.release_hold)
    staff.register(steps)
    closing.register(steps)
    broadcast.register(steps)
    survey.register(steps)
    return steps
