"""Seats left: per window for the conversations, per day and service for ``/metrics``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from bot.booking.office import Office
from bot.booking.seats import AVAILABILITY, Availability, DaySeats, SeatBook, parse_day_seats
from bot.booking.snapshot import SeatSnapshot
from bot.core.clock import Clock, ms
from bot.errors import StorageError
from bot.infra.keys import OfficeKeys
from bot.infra.metrics import SEATS_LEFT

# Redis names a script by the SHA-1 of its body.
AVAILABILITY_SHA = hashlib.sha1(AVAILABILITY.encode()).hexdigest()


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


Request = tuple[date, str, dict[str, int]]


def _every_day_service(office: Office, now: datetime) -> list[Request]:
    """Every bookable day of every service of ``office``, with its windows' capacities."""
    days = office.bookable_days(now)
    return [
        (day, service.id, {w.id: w.capacity(service.id) for w in office.windows(day)})
        for service in office.services
        for day in days
    ]


def _totals(requests: Sequence[Request], read: Sequence[DaySeats]) -> dict[tuple[date, str], int]:
    return {
        (day, service): sum(a.free for a in got.seats.values())
        for (day, service, _), got in zip(requests, read, strict=True)
    }


async def seats_left(office: Office, seats: SeatBook, now: datetime) -> dict[tuple[date, str], int]:
    """Free seats of each bookable day and service, ``(day, service id) -> seats``: one round
    trip for all of them."""
    requests = _every_day_service(office, now)
    return _totals(requests, await seats.day_seats(requests))


async def read_seats_left(
    redis: aioredis.Redis, offices: Sequence[tuple[Office, SeatBook]], now: datetime
) -> list[dict[tuple[date, str], int]]:
    """:func:`seats_left` of every office, in one pipeline: one AVAILABILITY call per office
    (its keys share its slot), one round trip for the whole network (on a cluster, one per
    master, sent together), however many offices. A server that does not know the script yet
    (fresh, flushed) gets it loaded and the offices it refused are read again: one round trip
    more, once."""
    plans = [(seats, _every_day_service(office, now)) for office, seats in offices]
    calls = [seats.availability_call(requests) if requests else None for seats, requests in plans]
    replies: list[Any] = [[] for _ in calls]
    pending = [i for i, call in enumerate(calls) if call is not None]
    for attempt in range(2):
        if not pending:
            break
        pipe = redis.pipeline(transaction=False)
        for i in pending:
            keys, args = calls[i] or ([], [])
            pipe.execute_command("EVALSHA", AVAILABILITY_SHA, len(keys), *keys, *args)
        try:
            got = await pipe.execute(raise_on_error=False)
            refused = [i for i, reply in zip(pending, got, strict=True) if _no_script(reply)]
            if refused and attempt == 0:
                await redis.script_load(AVAILABILITY)
        except RedisError as exc:
            raise StorageError(f"seats left: {exc}") from exc
        for i, reply in zip(pending, got, strict=True):
            if isinstance(reply, Exception) and not _no_script(reply):
                raise StorageError(f"seats left: {reply}")
            replies[i] = reply
        pending = refused
    if pending:
        raise StorageError("seats left: the server refused the availability script")
    return [
        _totals(requests, parse_day_seats(requests, reply))
        for (_, requests), reply in zip(plans, replies, strict=True)
    ]


def _no_script(reply: object) -> bool:
    return isinstance(reply, NoScriptError)


async def report_seats_left(
    redis: aioredis.Redis, offices: Sequence[tuple[Office, SeatBook]], now: datetime
) -> None:
    """Set the seats-left gauge (``antrean_seats_left``) from Redis, read now, for every office
    (of the configuration: a bounded set) and its bookable days only: the days that left the
    horizon are dropped, so the series stay bounded in a process that runs for months (at most
    offices x services x bookable days; bot/infra/metrics.py). One round trip per scrape
    (:func:`read_seats_left`)."""
    read = await read_seats_left(redis, offices, now)
    SEATS_LEFT.clear()
    for (office, _), left in zip(offices, read, strict=True):
        for (day, service), free in left.items():
            SEATS_LEFT.labels(office.id, day.isoformat(), service).set(free)
