"""The objects one Antrean process is made of, built once from the settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from rq import Queue

from bot.clock import Clock, SystemClock
from bot.codes import BookingCodes
from bot.events import BookingEvents, NoEvents
from bot.i18n import Catalog
from bot.nik import NikHasher
from bot.office import Office, load_office
from bot.seats import SeatBook
from bot.sessions import SessionStore
from bot.settings import Settings


@dataclass
class App:
    settings: Settings
    office: Office
    redis: aioredis.Redis
    clock: Clock
    seats: SeatBook
    sessions: SessionStore
    codes: BookingCodes
    niks: NikHasher
    catalog: Catalog
    events: BookingEvents = field(default_factory=NoEvents)
    # The RQ queue for background work (closure notices, broadcasts); None where nothing may be
    # queued (a process without workers, most tests).
    queue: Queue | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: aioredis.Redis,
        *,
        clock: Clock | None = None,
        office: Office | None = None,
        events: BookingEvents | None = None,
    ) -> App:
        """Wire the parts together. The Redis client is the caller's (it owns its lifetime)."""
        clock = clock or SystemClock()
        office = office or load_office(settings.office_config)
        secret = settings.secret()
        return cls(
            settings=settings,
            office=office,
            redis=redis,
            clock=clock,
            seats=SeatBook(redis, office.id, clock),
            sessions=SessionStore(
                redis,
                lease_ms=int(settings.lease_seconds * 1000),
                rate_limit=settings.rate_limit_per_minute,
                rate_burst=settings.rate_limit_burst,
            ),
            codes=BookingCodes(secret),
            niks=NikHasher(secret),
            catalog=Catalog.load(settings.default_locale),
            events=events or NoEvents(),
        )
