"""``antrean demo-bookings``: today's sample bookings in the demo office, to try ``/checkin``.

Applicants can book tomorrow at the earliest (``min_days_ahead``), and a booking code checks in
only on its own day, so without this the demo never shows a successful check-in. The bookings
are made straight in the seat book, for made-up people with made-up NIKs, and only in the
shipped demo office outside production. Running it again prints the same bookings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from bot.booking.app import App
from bot.booking.audit import Audit, applicant
from bot.booking.counter import NikRegistry
from bot.booking.nik import last4
from bot.booking.seats import Booking
from bot.errors import ConfigError, NikHasBooking, SeatError


@dataclass(frozen=True, slots=True)
class Sample:
    account: str
    nik: str
    name: str
    locale: str


# Valid-looking NIKs of Central Jakarta (a woman's birth day has 40 added); nobody's.
SAMPLES = (
    Sample("console:demo1", "3171011508850001", "Budi Santoso", "id"),
    Sample("console:demo2", "3171015203920002", "Siti Aminah", "id"),
    Sample("console:demo3", "3171012709880003", "Andi Wijaya", "en"),
)


async def make_demo_bookings(app: App, out: TextIO | None = None) -> int:
    """Book each sample person today (or find their booking) and print the codes; 0 on success."""
    settings = app.settings
    if settings.office_config is not None or settings.env == "production":
        raise ConfigError(
            "demo-bookings makes made-up bookings, so it runs only with the demo office "
            "(ANTREAN_OFFICE_CONFIG unset) outside production"
        )
    return await _book_samples(app, out or sys.stdout)


async def _book_samples(app: App, out: TextIO) -> int:
    office = app.office
    today = office.local_today(app.clock.now())
    day_text = app.catalog.format_day("en", today)
    windows = office.windows(today)
    if await app.seats.is_closed(today) or office.closure(today) is not None or not windows:
        print(f"{office.name} is closed today ({day_text}): no sample bookings.", file=out)
        return 1
    print(f"Sample bookings for today, {day_text}, at {office.name}:", file=out)
    for i, sample in enumerate(SAMPLES):
        service = office.services[i % len(office.services)]
        window = windows[i % len(windows)]
        try:
            booking = await _booking_of(app, sample, service.id, service.prefix, window.id)
        except SeatError as exc:
            print(f"  {sample.name}: not booked ({exc.reason})", file=out)
            continue
        code = app.codes.code(office.id, booking.id, booking.nik_hash)
        label = office.window(today, booking.window)
        print(
            f"  {booking.queue_number}  {code}  {label.label if label else booking.window}"
            f"  {booking.name}  ({service.name('en')}; {sample.account})",
            file=out,
        )
    print(
        "Check one in as staff: ANTREAN_STAFF=console:desk antrean chat --as console:desk, "
        "then /checkin CODE",
        file=out,
    )
    return 0


async def _booking_of(app: App, sample: Sample, service: str, prefix: str, window: str) -> Booking:
    """The sample person's booking of today: the one made earlier, or a new one."""
    today = app.office.local_today(app.clock.now())
    for booking in await app.seats.active_for_account(sample.account):
        if booking.day == today:
            return booking
    nik_hash = app.niks.hash(sample.nik)
    hold_id = app.codes.new_id()
    registry = NikRegistry(app.redis, app.clock)
    if not await registry.claim(nik_hash, app.office.id, hold_id, today):
        raise NikHasBooking()
    office_window = app.office.window(today, window)
    try:
        booking = await app.seats.confirm(
            hold_id=hold_id,
            day=today,
            service=service,
            window=window,
            default_capacity=office_window.capacity(service) if office_window else 0,
            prefix=prefix,
            account=sample.account,
            max_active=app.office.booking.max_active_per_account,
            nik_hash=nik_hash,
            nik_last4=last4(sample.nik),
            name=sample.name,
            locale=sample.locale,
        )
    except SeatError:
        await registry.release(nik_hash, app.office.id, hold_id)
        raise
    await Audit.of(app).record(
        applicant(sample.account), "booked", "ok", booking=booking.id, by="system:demo-bookings"
    )
    return booking
