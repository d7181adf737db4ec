"""What happens after a booking changes, beyond the conversation: reminders to (re)schedule.

Handlers report booking events to this port; the RQ implementation lives in ``workers/`` so that
the dialog layer knows nothing of queues.
"""

from __future__ import annotations

from typing import Protocol

from bot.booking.seats import Booking


class BookingEvents(Protocol):
    async def booked(self, booking: Booking) -> None: ...

    async def cancelled(self, booking: Booking) -> None: ...

    async def moved(self, booking: Booking) -> None: ...


class NoEvents:
    """For processes that schedule nothing (tests of the dialog alone)."""

    async def booked(self, booking: Booking) -> None:
        return None

    async def cancelled(self, booking: Booking) -> None:
        return None

    async def moved(self, booking: Booking) -> None:
        return None
