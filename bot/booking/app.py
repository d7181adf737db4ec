"""The objects one Antrean process is made of, built once from the settings and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.booking.audit import Audit
from bot.booking.codes import BookingCodes
from bot.booking.counter import AccountClaims, Counter, NikRegistry
from bot.booking.desk import BookingDesk
from bot.booking.events import BookingEvents
from bot.booking.jobs import BookingJobs
from bot.booking.network import Network, network_of
from bot.booking.nik import NikHasher
from bot.booking.office import Office
from bot.booking.release import FairRelease
from bot.booking.seats import SeatBook
from bot.booking.snapshot import SeatSnapshot
from bot.booking.staff_access import StaffAccess
from bot.core.clock import Clock, SystemClock
from bot.core.dialog import Context as BaseContext
from bot.core.i18n import Catalog
from bot.core.sessions import SessionStore
from bot.errors import ConfigError
from bot.infra.claims import Claims
from bot.infra.settings import Settings

# Where a conversation keeps the office it chose, in its data (``handlers.common.OFFICE`` is
# this key: handlers sit above the app).
OFFICE_KEY = "office"

# The booking bot's message catalogs.
LOCALE_DIR = Path(__file__).parent / "locales"


@dataclass(frozen=True, slots=True)
class OfficeServices:
    """One office's own services (its seats, counter, audit log, release, desk, staff sign-in),
    built once at start-up for each office of the network; a turn reaches the ones of its
    office through ``App.at(office_id)`` (handlers: ``handlers.common.local``)."""

    office: Office
    seats: SeatBook
    counter: Counter
    audit: Audit
    release: FairRelease
    desk: BookingDesk
    staff_access: StaffAccess


@dataclass
class App:
    settings: Settings
    # The office of a network of one; in a network, the first office (by name): what a process
    # that serves one office at a time shows by default (the staff web pages, the console's
    # header). The fields from ``seats`` to ``staff_access`` below are this office's services.
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
    # Every office of the deployment (a network of one for ANTREAN_OFFICE_CONFIG), and each
    # one's services by office id (the default office's are the fields above).
    network: Network = None  # type: ignore[assignment]  # set in __post_init__ if not given
    offices: dict[str, OfficeServices] = field(default_factory=dict)
    # The per-account cap across the offices of a network (None in a network of one: the seat
    # book's own count is the network's); "my booking" finds the account's offices in it.
    account_claims: AccountClaims | None = None

    def __post_init__(self) -> None:
        if self.network is None:
            self.network = Network([self.office])
        if not self.offices:
            self.offices = {
                self.office.id: OfficeServices(
                    self.office,
                    self.seats,
                    self.counter,
                    self.audit,
                    self.release,
                    self.desk,
                    self.staff_access,
                )
            }

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: aioredis.Redis,
        *,
        clock: Clock | None = None,
        office: Office | None = None,
        network: Network | None = None,
        events: BookingEvents | None = None,
    ) -> App:
        """Wire the parts together. The Redis client is the caller's (it owns its lifetime).
        ``office`` (a network of one) or ``network``: given instead of read from the settings.
        Nothing here talks to Redis, whatever the number of offices."""
        clock = clock or SystemClock()
        if network is None:
            network = (
                Network([office])
                if office is not None
                else network_of(settings.offices, settings.office_config)
            )
        _check_scopes(settings, network)
        _check_prequeue(settings, network)
        secret = settings.secret()
        codes = BookingCodes(secret)
        nik_registry = NikRegistry(redis, clock)
        accounts = AccountClaims(redis, clock) if len(network) > 1 else None
        offices = {
            o.id: _office_services(settings, redis, clock, o, codes, nik_registry, events, accounts)
            for o in network
        }
        home = offices[next(iter(network)).id]
        return cls(
            settings=settings,
            office=home.office,
            redis=redis,
            clock=clock,
            seats=home.seats,
            sessions=SessionStore(
                redis,
                lease_ms=int(settings.lease_seconds * 1000),
                rate_limit=settings.rate_limit_per_minute,
                rate_burst=settings.rate_limit_burst,
            ),
            codes=codes,
            niks=NikHasher(secret),
            catalog=Catalog.load(LOCALE_DIR, default=settings.default_locale),
            counter=home.counter,
            nik_registry=nik_registry,
            audit=home.audit,
            release=home.release,
            claims=Claims(redis),
            desk=home.desk,
            snapshot=SeatSnapshot(int(settings.seat_snapshot_seconds * 1000)),
            staff_access=home.staff_access,
            network=network,
            offices=offices,
            account_claims=accounts,
        )

    def at(self, office_id: str) -> OfficeServices:
        """The services of the office ``office_id`` (KeyError: no such office)."""
        return self.offices[office_id]

    def view(self, office_id: str) -> App:
        """This app as it would be built for the office ``office_id`` alone (its services in
        ``office``, ``seats``, ...; the shared ones the same): for code written for one office,
        such as the workers' jobs, which name their office. KeyError: no such office."""
        if office_id == self.office.id:
            return self
        s = self.offices[office_id]
        return replace(
            self,
            office=s.office,
            seats=s.seats,
            counter=s.counter,
            audit=s.audit,
            release=s.release,
            desk=s.desk,
            staff_access=s.staff_access,
        )

    @property
    def home(self) -> OfficeServices:
        """The default office's services (the only office's, in a network of one)."""
        return self.offices[self.office.id]

    @property
    def reminders(self) -> bool:
        return self.desk.reminders

    @reminders.setter
    def reminders(self, on: bool) -> None:
        """Whether bookings get reminders (on every office's desk)."""
        for services in self.offices.values():
            services.desk.reminders = on

    @property
    def events(self) -> BookingEvents:
        """What happens after a booking changes (e.g. a console's QR images are tidied); the
        desk reports to it. Set it to wire a process's own reactions in."""
        return self.desk.events

    @events.setter
    def events(self, events: BookingEvents) -> None:
        for services in self.offices.values():
            services.desk.events = events

    def local_today(self) -> date:
        return self.office.local_today(self.clock.now())

    def turn_label(self, data: Mapping[str, Any]) -> str:
        """The turn's office (for the turn-latency metric): the only office of a network of
        one; in a network, the office the conversation chose ("" before it chose one). Only
        ids of configured offices: a bounded set."""
        if len(self.offices) == 1:
            return self.office.id
        office_id = data.get(OFFICE_KEY)
        return office_id if isinstance(office_id, str) and office_id in self.offices else ""

    def welcome_params(self) -> dict[str, Any]:
        if len(self.offices) > 1:
            return {"office": self.settings.network_name}
        return {"office": self.office.name}


def _office_services(
    settings: Settings,
    redis: aioredis.Redis,
    clock: Clock,
    office: Office,
    codes: BookingCodes,
    nik_registry: NikRegistry,
    events: BookingEvents | None,
    accounts: AccountClaims | None = None,
) -> OfficeServices:
    seats = SeatBook(redis, office.id, clock)
    counter = Counter(redis, office, seats, clock)
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
        accounts=accounts,
    )
    return OfficeServices(
        office=office,
        seats=seats,
        counter=counter,
        audit=audit,
        release=FairRelease(redis, office, clock, codes, settings.prerelease_minutes),
        desk=desk,
        staff_access=StaffAccess(
            redis, office, clock, settings.staff_role, link_minutes=settings.signin_link_minutes
        ),
    )


def _check_scopes(settings: Settings, network: Network) -> None:
    """Every staff entry's office is an office of the network."""
    unknown = sorted(
        f"{identity}: {scope}"
        for identity, scope in settings.staff_scopes.items()
        if scope != "*" and scope not in network
    )
    if unknown:
        raise ConfigError(
            "ANTREAN_STAFF names offices that are not in the network: " + ", ".join(unknown)
        )


def _check_prequeue(settings: Settings, network: Network) -> None:
    """An applicant waiting in a pre-queue (bot/booking/release.py) may say nothing from joining
    it, up to ``prerelease_minutes`` before the opening, until they take the seat held for them
    at the opening, up to the office's ``hold_minutes`` after it. Their conversation must not go
    idle meanwhile: it would start again from the menu, and the held seat would be lost."""
    if settings.prerelease_minutes == 0:
        return
    longest = max(network, key=lambda o: o.booking.hold_minutes)
    wait = settings.prerelease_minutes + longest.booking.hold_minutes
    if wait > settings.session_idle_minutes:
        raise ConfigError(
            f"ANTREAN_PRERELEASE_MINUTES ({settings.prerelease_minutes}) plus the hold of office "
            f"{longest.id!r} (booking.hold_minutes, {longest.booking.hold_minutes}) is longer "
            f"than ANTREAN_SESSION_IDLE_MINUTES ({settings.session_idle_minutes}): an applicant "
            "waiting in the pre-queue would find their conversation restarted and the seat held "
            f"for them lost; raise ANTREAN_SESSION_IDLE_MINUTES to {wait} or more"
        )


# What the booking bot's steps see during a turn: ``ctx.deps`` is this process's :class:`App`.
Context = BaseContext[App]
