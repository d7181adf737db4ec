"""Seats left: per window for the conversations, per day and service for ``/metrics``."""

from __future__ import annotations

from datetime import date, datetime

from bot.booking.office import Office
from bot.booking.seats import Availability, SeatBook
from bot.infra.metrics import SEATS_LEFT


async def free_seats(
    office: Office, seats: SeatBook, service: str, days: list[date]
) -> list[dict[str, Availability]]:
    """Availability of every window of each of ``days`` for ``service``, in one round trip."""
    requests = [
        (day, service, {w.id: w.capacity(service) for w in office.windows(day)}) for day in days
    ]
    return await seats.availability(requests) if requests else []


async def seats_left(office: Office, seats: SeatBook, now: datetime) -> dict[tuple[date, str], int]:
    """Free seats of each bookable day and service, ``(day, service id) -> seats``: one round
    trip per service."""
    days = office.bookable_days(now)
    left: dict[tuple[date, str], int] = {}
    for service in office.services:
        for day, windows in zip(
            days, await free_seats(office, seats, service.id, days), strict=True
        ):
            left[day, service.id] = sum(a.free for a in windows.values())
    return left


async def report_seats_left(office: Office, seats: SeatBook, now: datetime) -> None:
    """Set the seats-left gauge (``antrean_seats_left``) from Redis, read now."""
    for (day, service), free in (await seats_left(office, seats, now)).items():
        SEATS_LEFT.labels(office.id, day.isoformat(), service).set(free)
