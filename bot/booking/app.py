"""The objects one Antrean process is made of, built once from the settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.booking.audit import Audit
from bot.booking.codes import BookingCodes
from bot.booking.counter import Counter, NikRegistry
from bot.booking.desk import BookingDesk
from bot.booking.events import BookingEvents
from bot.booking.jobs import BookingJobs
from bot.booking.nik import NikHasher
from bot.booking.office import Office, load_office
from bot.booking.release import FairRelease
from bot.booking.seats import SeatBook
from bot.booking.snapshot import SeatSnapshot
from bot.booking.staff_access import StaffAccess
from bot.core.clock import Clock, SystemClock
from bot.core.dialog import Context as BaseContext
from bot.core.i18n import Catalog
from bot.core.sessions import SessionStore
from bot.infra.claims import Claims
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
    # Services built once per process (each registers its scripts once).
    counter: Counter
    nik_registry: NikRegistry
    audit: Audit
    release: FairRelease
    claims: Claims
    desk: BookingDesk
    # Staff sign-in links and web sessions (/masuk, bot/web/staff.py).
    staff_access: StaffAccess
    # Background work (closure notices, broadcasts, replies to send later); None where nothing
    # may be queued (a process without workers, most tests).
    jobs: BookingJobs | None = None
    # What the prompts show of the seats: not live (every prompt reads Redis) until a
    # subscription feeds it (bot/compose.py starts one where conversations run).
    snapshot: SeatSnapshot = field(default_factory=SeatSnapshot)

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
        seats = SeatBook(redis, office.id, clock)
        codes = BookingCodes(secret)
        counter = Counter(redis, office, seats, clock)
        nik_registry = NikRegistry(redis, clock)
        audit = Audit(redis, office.id, clock)
        desk = BookingDesk(
            office=office,
            settings=settings,
            seats=seats,
            counter=counter,
            niks=nik_registry,
            audit=audit,
            clock=clock,
            events=events,
        )
        return cls(
            settings=settings,
            office=office,
            redis=redis,
            clock=clock,
            seats=seats,
            sessions=SessionStore(
                redis,
                lease_ms=int(settings.lease_seconds * 1000),
                rate_limit=settings.rate_limit_per_minute,
                rate_burst=settings.rate_limit_burst,
            ),
            codes=codes,
            niks=NikHasher(secret),
            catalog=Catalog.load(LOCALE_DIR, default=settings.default_locale),
            counter=counter,
            nik_registry=nik_registry,
            audit=audit,
            release=FairRelease(redis, office, clock, codes, settings.prerelease_minutes),
            claims=Claims(redis),
            desk=desk,
            snapshot=SeatSnapshot(int(settings.seat_snapshot_seconds * 1000)),
            staff_access=StaffAccess(
                redis,
                office,
                clock,
                settings.staff_role,
                link_minutes=settings.signin_link_minutes,
            ),
        )

    @property
    def events(self) -> BookingEvents:
        """What happens after a booking changes (e.g. a console's QR images are tidied); the
        desk reports to it. Set it to wire a process's own reactions in."""
        return self.desk.events

    @events.setter
    def events(self, events: BookingEvents) -> None:
        self.desk.events = events

    def local_today(self) -> date:
        return self.office.local_today(self.clock.now())

    def welcome_params(self) -> dict[str, Any]:
        return {"office": self.office.name}


# What the booking bot's steps see during a turn: ``ctx.deps`` is this process's :class:`App`.
Context = BaseContext[App]
