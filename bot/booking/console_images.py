"""The QR images ``antrean chat`` writes under ``var/images/``, deleted with their booking.

The console channel writes a booking's QR code to a file (a terminal cannot show an image) named
after the whole booking code (:func:`bot.booking.codes.qr_filename`). A cancelled booking's image is
deleted, so that a code that no longer admits anyone is not left to be shown at the counter. A
rescheduled booking keeps its code, hence its image.
"""

from __future__ import annotations

from pathlib import Path

from bot.booking.codes import BookingCodes, qr_filename
from bot.booking.events import BookingEvents
from bot.booking.seats import Booking


class QrImageCleanup:
    """Booking events that also delete a cancelled booking's QR image; passes every event on."""

    def __init__(
        self, events: BookingEvents, codes: BookingCodes, office_id: str, image_dir: Path
    ) -> None:
        self.events = events
        self.codes = codes
        self.office_id = office_id
        self.image_dir = image_dir

    def path(self, booking: Booking) -> Path:
        code = self.codes.code(self.office_id, booking.id, booking.nik_hash)
        return self.image_dir / qr_filename(code)

    async def booked(self, booking: Booking) -> None:
        await self.events.booked(booking)

    async def cancelled(self, booking: Booking) -> None:
        await self.events.cancelled(booking)
        self.path(booking).unlink(missing_ok=True)

    async def moved(self, booking: Booking) -> None:
        await self.events.moved(booking)
