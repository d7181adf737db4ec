"""Seats left: per window for the conversations, per day and service for ``/metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime

from bot.booking.office import Office
from bot.booking.seats import Availability, SeatBook
from bot.booking.snapshot import SeatSnapshot
from bot.core.clock import Clock, ms
from bot.infra.keys import OfficeKeys
from bot.infra.metrics import SEATS_LEFT


async def free_seats(
    office: Office, seats: SeatBook, service: str, days: list[date]
) -> list[dict[str, Availability]]:
    """Availability of every window of each of ``days`` for ``service``, in one round trip."""
    requests = [
        (day, service, {w.id: w.capacity(service) for w in office.windows(day)}) for day in days
    ]
    return await seats.availability(requests) if requests else []


async def snapshot_seats(
    office: Office,
    seats: SeatBook,
    snapshot: SeatSnapshot,
    clock: Clock,
    service: str,
    days: list[date],
) -> tuple[list[dict[str, Availability]], tuple[int, ...] | None]:
    """:func:`free_seats` from the process's snapshot where it is trusted; the rest is read
    (one round trip for all of it) and kept. Also a token of what was answered (the entries'
    versions), for deriving values once per change (:meth:`SeatSnapshot.memo`), or None if
    some of it could not be kept."""
    if not snapshot.live:
        return await free_seats(office, seats, service, days), None
    now = clock.now()
    now_ms, today = ms(now), office.local_today(now)
    keys = OfficeKeys(office.id)
    found: list[dict[str, Availability] | None] = []
    versions: list[int | None] = []
    missing: list[int] = []
    for i, day in enumerate(days):
        try:
            got, version = snapshot.get(keys.day(day.isoformat(), service), now_ms, today)
        except KeyError:
            found.append(None)
            versions.append(None)
            missing.append(i)
        else:
            found.append(got)
            versions.append(version)
    if missing:
        requests = [
            (days[i], service, {w.id: w.capacity(service) for w in office.windows(days[i])})
            for i in missing
        ]
        since = snapshot.begin_read()
        try:
            read = await seats.day_seats(requests)
        finally:
            snapshot.end_read()
        for i, (day, _, defaults), fresh in zip(missing, requests, read, strict=True):
            iso = day.isoformat()
            found[i] = fresh.seats
            versions[i] = snapshot.put(
                since, keys.day(iso, service), keys.closed, iso, defaults, fresh, now_ms, today
            )
    result = [f for f in found if f is not None]
    token = tuple(v for v in versions if v is not None)
    return result, token if len(token) == len(days) else None


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


async def report_seats_left(offices: Sequence[tuple[Office, SeatBook]], now: datetime) -> None:
    """Set the seats-left gauge (``antrean_seats_left``) from Redis, read now, for every office
    (of the configuration: a bounded set) and its bookable days only: the days that left the
    horizon are dropped, so the series stay bounded in a process that runs for months."""
    read = await asyncio.gather(*(seats_left(office, seats, now) for office, seats in offices))
    SEATS_LEFT.clear()
    for (office, _), left in zip(offices, read, strict=True):
        for (day, service), free in left.items():
            SEATS_LEFT.labels(office.id, day.isoformat(), service).set(free)
