"""The objects one Antrean process is made of, built once from the settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.booking.codes import BookingCodes
from bot.booking.events import BookingEvents, NoEvents
from bot.booking.jobs import BookingJobs
from bot.booking.nik import NikHasher
from bot.booking.office import Office, load_office
from bot.booking.seats import SeatBook
from bot.core.clock import Clock, SystemClock
from bot.core.dialog import Context as BaseContext
from bot.core.i18n import Catalog
from bot.core.sessions import SessionStore
from bot.infra.settings import Settings

# The booking bot's message catalogs.
LOCALE_DIR = Path(__file__).parent / "locales"


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
    # Background work (closure notices, broadcasts, replies to send later); None where nothing
    # may be queued (a process without workers, most tests).
    jobs: BookingJobs | None = None

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
            catalog=Catalog.load(LOCALE_DIR, settings.default_locale),
            events=events or NoEvents(),
        )

    def local_today(self) -> date:
        return self.office.local_today(self.clock.now())

    def welcome_params(self) -> dict[str, Any]:
        return {"office": self.office.name}


# What the booking bot's steps see during a turn: ``ctx.deps`` is this process's :class:`App`.
Context = BaseContext[App]
