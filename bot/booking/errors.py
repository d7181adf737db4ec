"""The booking domain's errors, all under :class:`bot.errors.AntreanError`.

AntreanError (bot/errors.py)
└── BookingError
    ├── SeatError              a seat-book operation was refused (has a ``reason`` code)
    │   ├── SoldOut
    │   ├── DayClosed
    │   ├── HoldExpired
    │   ├── NikHasBooking
    │   ├── AccountLimit
    │   ├── BookingNotFound
    │   ├── AlreadyRescheduled
    │   ├── CutoffPassed
    │   └── BelowBooked
    ├── NikTaken               another live booking holds the NIK (the cross-office claim)
    ├── NikBlocked             the NIK is blocked for no-shows (has ``until``)
    └── CheckInRefused         a check-in was refused (has a ``reason`` and the booking seen)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.errors import AntreanError

if TYPE_CHECKING:
    from datetime import datetime

    from bot.booking.seats import Booking


class BookingError(AntreanError):
    """A booking operation was refused or failed."""


class SeatError(BookingError):
    """A seat-book operation was refused. ``reason`` is a stable machine-readable code."""

    reason = "seat_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.reason)
        self.details = details


class SoldOut(SeatError):
    reason = "sold_out"


class DayClosed(SeatError):
    reason = "day_closed"


class HoldExpired(SeatError):
    reason = "hold_expired"


class NikHasBooking(SeatError):
    reason = "nik_has_booking"


class AccountLimit(SeatError):
    reason = "account_limit"


class BookingNotFound(SeatError):
    reason = "booking_not_found"


class AlreadyRescheduled(SeatError):
    reason = "already_rescheduled"


class CutoffPassed(SeatError):
    reason = "cutoff_passed"


class BelowBooked(SeatError):
    reason = "below_booked"


SEAT_ERRORS: dict[str, type[SeatError]] = {
    cls.reason: cls
    for cls in (
        SoldOut,
        DayClosed,
        HoldExpired,
        NikHasBooking,
        AccountLimit,
        BookingNotFound,
        AlreadyRescheduled,
        CutoffPassed,
        BelowBooked,
    )
}


class NikTaken(BookingError):
    """The NIK registry refused the claim: another live booking (at any office) holds the NIK.
    ``yours``: that booking is one of the same account at the same office (the applicant can
    see it under their bookings)."""

    def __init__(self, *, yours: bool = False) -> None:
        super().__init__("nik_taken")
        self.yours = yours


class NikBlocked(BookingError):
    """The NIK registry refused the claim: the NIK is blocked for no-shows until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__("nik_blocked")
        self.until = until


class CheckInRefused(BookingError):
    """A check-in was refused; ``reason`` is not_found, checked_in, inactive or wrong_day."""

    def __init__(self, reason: str, booking: Booking | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.booking = booking
