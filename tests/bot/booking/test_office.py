"""The office file: loading, validation messages and the booking calendar.

Dates are fixed in 2030 (2030-03-04 is a Monday) so nothing depends on today's date. Jakarta is
UTC+7 all year: 07:00 WIB is 00:00 UTC the same day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from pydantic import ValidationError

from bot.booking.office import Office, load_office
from bot.core.clock import ManualClock
from bot.errors import ConfigError

JAKARTA = ZoneInfo("Asia/Jakarta")
MON = date(2030, 3, 4)


def wib(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An instant given in Jakarta time, returned in UTC like the injected clock's."""
    return datetime(year, month, day, hour, minute, second, tzinfo=JAKARTA).astimezone(UTC)


@pytest.fixture(scope="module")
def demo() -> Office:
    return load_office(None)


# A small valid office; the error tests each break one line of it.
BASE = """\
[office]
id = "test-office"
name = "Test office"
address = "Jl. Percobaan 1"

[booking]
days_ahead = 3
min_days_ahead = 0

[[services]]
id = "one"
prefix = "A"
names = { id = "Satu", en = "One" }
documents = { id = [], en = [] }

[[services]]
id = "two"
prefix = "B"
names = { id = "Dua", en = "Two" }
documents = { id = ["KTP"], en = ["ID card"] }

[hours]
mon = [
    { start = "13:00", end = "15:00", seats = 5 },
    { start = "08:00", end = "10:00", seats = 10, service_seats = { two = 2 } },
]
"""

EVERY_DAY = "\n".join(
    f'{day} = [{{ start = "09:00", end = "12:00", seats = 3 }}]'
    for day in ("tue", "wed", "thu", "fri", "sat", "sun")
)


def write(tmp_path: Path, text: str, name: str = "office.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(old: str, new: str, base: str = BASE) -> str:
    assert old in base, f"test setup: {old!r} not in the base file"
    return base.replace(old, new, 1)


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text, name="broken.toml")
    with pytest.raises(ConfigError) as info:
        load_office(path)
    message = str(info.value)
    assert f"office file {path}" in message
    return message


# -- the shipped demo ------------------------------------------------------------------------


def test_demo_office_loads(demo: Office) -> None:
    assert demo.id == "kanim-jakpus"
    assert demo.timezone == "Asia/Jakarta"
    assert demo.tz == JAKARTA
    assert [(s.id, s.prefix) for s in demo.services] == [
        ("paspor-baru", "A"),
        ("penggantian-paspor", "B"),
        ("paspor-hilang-rusak", "C"),
    ]
    assert demo.public_holidays is True
    assert len(demo.closed_dates) >= 2
    assert demo.booking.days_ahead == 14
    assert demo.booking.release_time == time(7, 0)
    assert demo.booking.reminder_offsets_minutes == [720, 120]


def test_service_names_and_documents(demo: Office) -> None:
    service = demo.service("paspor-baru")
    assert service is not None
    assert service.name("id") == "Paspor baru"
    assert service.name("en") == "New passport"
    assert service.name("fr") == "Paspor baru"  # unknown language -> the office's own
    assert "e-KTP asli" in service.docs("id")
    assert service.docs("en")[0].startswith("Original e-KTP")
    service.docs("en").clear()  # a copy: callers cannot edit the configuration
    assert service.docs("en")
    assert demo.service("nope") is None


def test_windows_per_weekday(demo: Office) -> None:
    monday = demo.windows(MON)
    assert [w.id for w in monday] == ["0800-1000", "1000-1200", "1300-1500"]
    assert [w.label for w in monday] == ["08:00\u201310:00", "10:00\u201312:00", "13:00\u201315:00"]
    friday = demo.windows(date(2030, 3, 8))
    assert [w.id for w in friday] == ["0800-1000", "1000-1130", "1330-1500"]
    assert demo.windows(date(2030, 3, 9)) == []  # Saturday
    assert demo.windows(date(2030, 3, 10)) == []  # Sunday


def test_window_lookup(demo: Office) -> None:
    window = demo.window(MON, "1000-1200")
    assert window is not None
    assert (window.start, window.end) == (time(10, 0), time(12, 0))
    assert demo.window(date(2030, 3, 8), "1000-1200") is None  # Friday ends at 11:30
    assert demo.window(date(2030, 3, 9), "0800-1000") is None


def test_capacity_override(demo: Office) -> None:
    window = demo.window(MON, "0800-1000")
    assert window is not None
    assert window.capacity("paspor-baru") == window.seats == 40
    assert window.capacity("paspor-hilang-rusak") == 10
    for day in range(5):
        for w in demo.windows(MON + timedelta(days=day)):
            assert 0 < w.capacity("paspor-hilang-rusak") < w.capacity("paspor-baru")


def test_window_start(demo: Office) -> None:
    start = demo.window_start(date(2030, 3, 6), "0800-1000")
    assert start == datetime(2030, 3, 6, 1, 0, tzinfo=UTC)
    assert start.utcoffset() == timedelta(hours=7)
    with pytest.raises(KeyError):
        demo.window_start(date(2030, 3, 9), "0800-1000")


# -- closures --------------------------------------------------------------------------------


def test_closure_reasons(demo: Office) -> None:
    new_year = date(2030, 1, 1)  # a Tuesday
    expected = holidays.country_holidays("ID", years=2030, language="id")[new_year]
    assert demo.closure(new_year) == f"holiday:{expected}"
    assert demo.holiday_name(new_year, "en") == "New Year's Day"
    nyepi = date(2030, 3, 5)  # Day of Silence, a Tuesday
    assert demo.closure(nyepi) == "holiday:Hari Suci Nyepi"
    assert demo.closure(date(2030, 6, 12)) == "closed_date"
    assert demo.closure(date(2030, 3, 9)) == "no_hours"
    assert demo.closure(MON) is None
    assert demo.holiday_name(MON) is None


def test_closed_date_wins_over_holiday_and_holidays_can_be_off(tmp_path: Path) -> None:
    eid = date(2030, 2, 4)  # Eid al-Fitr (estimated), a Monday in 2030
    assert eid in holidays.country_holidays("ID", years=2030)
    office = load_office(write(tmp_path, BASE))
    assert (office.closure(eid) or "").startswith("holiday:Hari Raya Idul Fitri")
    assert office.closure(date(2030, 1, 1)) == "holiday:Tahun Baru Masehi"  # before no_hours

    closed = variant(
        'address = "Jl. Percobaan 1"\n', 'address = "x"\nclosed_dates = [2030-02-04]\n'
    )
    assert load_office(write(tmp_path, closed)).closure(eid) == "closed_date"

    off = load_office(write(tmp_path, variant("[booking]", "public_holidays = false\n[booking]")))
    assert off.closure(eid) is None
    assert off.closure(date(2030, 1, 1)) == "no_hours"  # a Tuesday


# -- release and bookable days ---------------------------------------------------------------


def test_release_at(demo: Office) -> None:
    released = demo.release_at(date(2030, 3, 18))
    assert released == wib(2030, 3, 4, 7, 0) == datetime(2030, 3, 4, 0, 0, tzinfo=UTC)
    assert released.tzinfo is not None
    assert not demo.is_released(date(2030, 3, 18), datetime(2030, 3, 3, 23, 59, 59, tzinfo=UTC))
    assert demo.is_released(date(2030, 3, 18), datetime(2030, 3, 4, 0, 0, tzinfo=UTC))


def test_bookable_days_just_before_and_after_release(demo: Office) -> None:
    # 06:59:59 WIB on Monday 4 March is still Sunday 3 March in UTC.
    before = demo.bookable_days(wib(2030, 3, 4, 6, 59, 59))
    after = demo.bookable_days(wib(2030, 3, 4, 7, 0))
    weekdays_until_15 = [date(2030, 3, d) for d in (6, 7, 8, 11, 12, 13, 14, 15)]
    # Tuesday 5 March is Nyepi; 9-10 and 16-17 March are weekends.
    assert before == weekdays_until_15
    assert after == [*weekdays_until_15, date(2030, 3, 18)]


def test_bookable_days_with_the_injected_clock(demo: Office, clock: ManualClock) -> None:
    # conftest's clock: Monday 2030-03-04 08:00 WIB, after the day's release.
    assert demo.local_today(clock.now()) == MON
    assert demo.bookable_days(clock.now())[-1] == date(2030, 3, 18)
    clock.advance(timedelta(days=1))  # Tuesday 08:00 WIB: 19 March has opened
    assert demo.bookable_days(clock.now())[-1] == date(2030, 3, 19)
    assert date(2030, 3, 5) not in demo.bookable_days(clock.now())


def test_local_today_uses_the_office_time_zone(demo: Office) -> None:
    # 23:30 UTC on 3 March is 06:30 WIB on 4 March.
    now = datetime(2030, 3, 3, 23, 30, tzinfo=UTC)
    assert demo.local_today(now) == MON
    # min_days_ahead = 1 counts from the local date: Monday 4 March itself is not bookable.
    assert demo.bookable_days(now)[0] == date(2030, 3, 6)
    assert MON not in demo.bookable_days(now)
    with pytest.raises(ValueError, match="timezone-aware"):
        demo.local_today(datetime(2030, 3, 4, 8, 0))


def test_horizon_and_min_days_ahead(tmp_path: Path) -> None:
    text = variant("[hours]\n", "[hours]\n" + EVERY_DAY + "\n")
    office = load_office(
        write(tmp_path, variant("[booking]", "public_holidays = false\n[booking]", text))
    )
    # days_ahead = 3, min_days_ahead = 0, open every day: today .. today + 3 once released.
    assert office.bookable_days(wib(2030, 3, 4, 7, 0)) == [
        MON + timedelta(days=n) for n in range(4)
    ]
    assert office.bookable_days(wib(2030, 3, 4, 6, 59)) == [
        MON + timedelta(days=n) for n in range(3)
    ]
    assert len(office.bookable_days(wib(2030, 3, 4, 23, 59))) == office.booking.days_ahead + 1
    assert date(2030, 3, 8) not in office.bookable_days(wib(2030, 3, 4, 23, 59))

    later = load_office(write(tmp_path, variant("min_days_ahead = 0", "min_days_ahead = 2", text)))
    days = later.bookable_days(wib(2030, 3, 4, 12, 0))
    assert days[0] == date(2030, 3, 6)
    assert MON not in days and date(2030, 3, 5) not in days


def test_next_release(demo: Office) -> None:
    # Monday 08:00 WIB: the next release is Tuesday 07:00, opening Tuesday 19 March.
    assert demo.next_release(wib(2030, 3, 4, 8, 0)) == wib(2030, 3, 5, 7, 0)
    # Before Friday's release: today's, which opens Friday 22 March.
    assert demo.next_release(wib(2030, 3, 8, 6, 0)) == wib(2030, 3, 8, 7, 0)
    # After it: Saturday and Sunday release weekend days, so Monday's release is next.
    assert demo.next_release(wib(2030, 3, 8, 7, 0)) == wib(2030, 3, 11, 7, 0)


def test_next_release_none_when_nothing_ever_opens(tmp_path: Path) -> None:
    mondays = ", ".join(str(date(2030, 1, 7) + timedelta(weeks=n)) for n in range(70))
    text = variant('address = "Jl. Percobaan 1"\n', f'address = "x"\nclosed_dates = [{mondays}]\n')
    office = load_office(write(tmp_path, text))
    assert office.next_release(wib(2030, 3, 4, 8, 0)) is None
    assert office.bookable_days(wib(2030, 3, 4, 8, 0)) == []


# -- validation of a file --------------------------------------------------------------------


def test_base_file_is_valid_and_windows_are_sorted(tmp_path: Path) -> None:
    office = load_office(write(tmp_path, BASE))
    assert [w.id for w in office.windows(MON)] == ["0800-1000", "1300-1500"]
    window = office.window(MON, "0800-1000")
    assert window is not None
    assert window.capacity("two") == 2
    assert window.capacity("one") == window.seats == 10
    assert office.timezone == "Asia/Jakarta"  # the default
    assert office.booking.hold_minutes == 10
    two = office.service("two")
    assert two is not None
    assert two.docs("en") == ["ID card"]


def test_office_is_frozen(demo: Office) -> None:
    with pytest.raises(ValidationError):
        demo.id = "other"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"office file .*nowhere\.toml: no such file"):
        load_office(path)


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, variant('id = "test-office"', 'id = "test-office'))
    assert "invalid TOML" in message
    assert "line 2" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'address = "Jl. Percobaan 1"',
            'address = "Jl. Percobaan 1"\ntimezone = "Asia/Jakarte"',
            "office.timezone: unknown time zone 'Asia/Jakarte'",
            id="unknown-timezone",
        ),
        pytest.param(
            '{ start = "08:00", end = "10:00"',
            '{ start = "08:00", end = "13:30"',
            "hours.mon.0: window 13:00\u201315:00 overlaps window 08:00\u201313:30",
            id="overlapping-windows",
        ),
        pytest.param(
            'prefix = "B"',
            'prefix = "A"',
            "services.1.prefix: 'A' is already the prefix of 'one'",
            id="duplicate-prefix",
        ),
        pytest.param(
            'prefix = "B"',
            'prefix = "b"',
            "services.1.prefix: must be one uppercase letter A-Z",
            id="lowercase-prefix",
        ),
        pytest.param(
            'id = "two"',
            'id = "one"',
            "services.1.id: 'one' is already the id of service 0",
            id="duplicate-service-id",
        ),
        pytest.param(
            "service_seats = { two = 2 }",
            "service_seats = { three = 2 }",
            "hours.mon.1.service_seats.three: unknown service 'three' (services: one, two)",
            id="unknown-service-in-service-seats",
        ),
        pytest.param(
            '{ start = "13:00"',
            '{ start = "1pm"',
            'hours.mon.0.start: must be a time like "08:00"',
            id="bad-time-string",
        ),
        pytest.param(
            '{ start = "13:00", end = "15:00"',
            '{ start = "13:00", end = "12:00"',
            "hours.mon.0.end: must be later than start (13:00)",
            id="end-before-start",
        ),
        pytest.param(
            "mon = [",
            "monday = [",
            "hours.monday: Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
            id="unknown-weekday",
        ),
        pytest.param(
            "min_days_ahead = 0",
            "min_days_ahead = 5",
            "booking.min_days_ahead: must not be more than days_ahead (3)",
            id="min-beyond-horizon",
        ),
        pytest.param(
            "days_ahead = 3",
            "days_ahaed = 3",
            "booking.days_ahaed: unknown key",
            id="typo-in-booking",
        ),
        pytest.param(
            'names = { id = "Dua", en = "Two" }',
            'names = { id = "Dua" }',
            "services.1.names: needs both languages, missing: en",
            id="missing-language",
        ),
        pytest.param(
            'id = "test-office"',
            'id = "Test Office"',
            "office.id: must be 1-32 characters of a-z, 0-9 and '-'",
            id="bad-office-id",
        ),
        pytest.param(
            'name = "Test office"\n',
            "",
            "office.name: required key is missing",
            id="missing-name",
        ),
        pytest.param(
            'name = "Test office"',
            'name = "Test office"\ncolour = "blue"',
            "office.colour: unknown key",
            id="unknown-office-key",
        ),
        pytest.param(
            "[office]",
            "seats = 3\n[office]",
            ": seats: unknown top-level key",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "seats = 10,",
            "seats = -1,",
            "hours.mon.1.seats: Input should be greater than or equal to 0",
            id="negative-seats",
        ),
    ],
)
def test_bad_file_names_file_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in load_error(tmp_path, variant(old, new))


def test_no_opening_hours_at_all(tmp_path: Path) -> None:
    text = BASE[: BASE.index("[hours]")] + "[hours]\nmon = []\n"
    assert "hours: no opening windows on any weekday" in load_error(tmp_path, text)


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    text = variant('prefix = "B"', 'prefix = "bb"', variant("seats = 5", "seats = -5"))
    message = load_error(tmp_path, text)
    assert "services.1.prefix" in message
    assert "hours.mon.0.seats" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "days_ahead = 3",
            "days_ahaed = 3",
            "booking.days_ahaed: unknown key (did you mean 'days_ahead'?)",
            id="booking-key",
        ),
        pytest.param(
            'prefix = "A"',
            'prefx = "A"',
            "services.0.prefx: unknown key (did you mean 'prefix'?)",
            id="service-key",
        ),
        pytest.param(
            "seats = 5 }",
            "seat = 5 }",
            "hours.mon.0.seat: unknown key (did you mean 'seats'?)",
            id="window-key",
        ),
        pytest.param(
            'address = "Jl. Percobaan 1"',
            'adress = "Jl. Percobaan 1"',
            "office.adress: unknown key (did you mean 'address'?)",
            id="office-key",
        ),
        pytest.param(
            "[booking]",
            "[bookings]",
            "bookings: unknown top-level key (did you mean 'booking'?)",
            id="top-level-key",
        ),
        pytest.param("mon = [", "monday = [", "(did you mean 'mon'?)", id="weekday"),
        pytest.param(
            "service_seats = { two = 2 }",
            "service_seats = { tow = 2 }",
            "unknown service 'tow' (did you mean 'two'?)",
            id="service-in-service-seats",
        ),
    ],
)
def test_an_unknown_key_suggests_the_closest_known_one(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in load_error(tmp_path, variant(old, new))


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    message = load_error(tmp_path, variant("days_ahead = 3", "colour = 3"))
    assert "booking.colour: unknown key" in message
    assert "did you mean" not in message
