"""The office: its services, weekly opening windows, closures and booking rules, read from TOML.

:func:`load_office` reads one office file (the shipped demo when no path is given) and turns every
problem into a :class:`~bot.errors.ConfigError` naming the file and the TOML key path, so a typo is
found at start-up rather than in the middle of someone's booking.

The calendar methods never read the real time: every ``now`` is a timezone-aware instant passed in
by the caller (from the injected clock) and is converted to the office's own time zone, because
"today", "07:00" and "the day after tomorrow" only mean something locally.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.i18n import LOCALES, Locale
from bot.errors import ConfigError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Index = date.weekday(), so WEEKDAYS[day.weekday()] is the key of that day in ``hours``.
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

SLUG_RE = re.compile(r"^[a-z0-9-]{1,32}$")
PREFIX_RE = re.compile(r"^[A-Z]$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

# How far next_release() looks for a day that will open before giving up (an office closed for
# more than a year has nothing to announce).
_RELEASE_SEARCH_DAYS = 400


class _At(ValueError):
    """A validation problem below the field being validated: ``loc`` is the rest of the key path.

    Pydantic only knows the location of the field a validator runs on; cross-checks (a duplicate
    prefix, an unknown service in ``service_seats``) need to point deeper, and
    :func:`load_office` appends ``loc`` when it formats the error.
    """

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        self.loc = tuple(loc)
        self.msg = msg
        super().__init__(f"{'.'.join(str(part) for part in self.loc)}: {msg}" if loc else msg)


def _parse_time(value: object) -> object:
    """``"08:00"`` (or a native TOML time on the minute) -> :class:`datetime.time`.

    Window ids are built from hours and minutes only, so seconds and time zones are refused rather
    than silently dropped.
    """
    if isinstance(value, time):
        if value.second or value.microsecond or value.tzinfo is not None:
            raise ValueError('must be a local time on the minute, like "08:00"')
        return value
    if isinstance(value, str):
        match = TIME_RE.match(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f'must be a time like "08:00" (24-hour HH:MM), not {value!r}')


ClockTime = Annotated[time, BeforeValidator(_parse_time)]


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError("must be 1-32 characters of a-z, 0-9 and '-'")
    return value


def _locale(locale: str) -> Locale:
    # Any language the bot may grow later falls back to the office's own.
    return "en" if locale == "en" else "id"


def _check_locales(value: dict[Locale, Any]) -> None:
    missing = [locale for locale in LOCALES if locale not in value]
    if missing:
        raise ValueError("needs both languages, missing: " + ", ".join(missing))


class Service(BaseModel):
    """One kind of errand the office serves, with its own queue letter and seat counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    names: dict[Locale, str]
    # Queue numbers look like "A-017": one letter per service keeps them short to read out.
    prefix: str
    documents: dict[Locale, list[str]]

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _check_slug(value)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not PREFIX_RE.match(value):
            raise ValueError("must be one uppercase letter A-Z")
        return value

    @field_validator("names")
    @classmethod
    def _check_names(cls, value: dict[Locale, str]) -> dict[Locale, str]:
        _check_locales(value)
        for locale, name in value.items():
            if not name.strip():
                raise _At([locale], "must not be empty")
        return value

    @field_validator("documents")
    @classmethod
    def _check_documents(cls, value: dict[Locale, list[str]]) -> dict[Locale, list[str]]:
        _check_locales(value)
        return value

    def name(self, locale: str) -> str:
        """The service's name in ``locale``, in Indonesian for a language the file lacks."""
        return self.names[_locale(locale)]

    def docs(self, locale: str) -> list[str]:
        """The documents to bring, in ``locale`` (Indonesian for a language the file lacks)."""
        return list(self.documents[_locale(locale)])


class Window(BaseModel):
    """One time window of a weekday, with its seats per service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: ClockTime
    end: ClockTime
    seats: int = Field(ge=0)
    service_seats: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _end_after_start(self) -> Window:
        if self.end <= self.start:
            raise _At(["end"], f"must be later than start ({self.start:%H:%M})")
        return self

    @property
    def id(self) -> str:
        """``"0800-1000"``: stable and short, used as an option id and inside Redis keys."""
        return f"{self.start:%H%M}-{self.end:%H%M}"

    @property
    def label(self) -> str:
        """Like ``08:00\u201310:00``: an en dash (U+2013), as a time range is set in print."""
        return f"{self.start:%H:%M}\u2013{self.end:%H:%M}"

    def capacity(self, service_id: str) -> int:
        """Seats of ``service_id`` in this window: its override, else the window's default."""
        return self.service_seats.get(service_id, self.seats)


class BookingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Day D opens for booking at release_time (office time) on D - days_ahead.
    days_ahead: int = Field(default=14, ge=0, le=366)
    release_time: ClockTime = time(7, 0)
    # 1 = no same-day booking: the earliest bookable day is local today + min_days_ahead.
    min_days_ahead: int = Field(default=1, ge=0)
    cancel_cutoff_hours: int = Field(default=2, ge=0)
    reschedule_cutoff_hours: int = Field(default=24, ge=0)
    max_active_per_account: int = Field(default=1, ge=1)
    # A chosen window's seat is held this long while the user confirms.
    hold_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # Minutes before the window starts: the evening before-ish and two hours before.
    reminder_offsets_minutes: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [720, 120]
    )

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _sort_reminders(cls, value: list[int]) -> list[int]:
        # Earliest reminder first, without duplicates, whatever order the file lists them in.
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _min_within_horizon(self) -> BookingRules:
        if self.min_days_ahead > self.days_ahead:
            raise _At(["min_days_ahead"], f"must not be more than days_ahead ({self.days_ahead})")
        return self


class Location(BaseModel):
    """Where the office is (WGS 84 degrees), for "nearest offices" and map messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


@lru_cache(maxsize=64)
def _holidays(year: int, language: str) -> dict[date, str]:
    """Indonesian public holidays of one year, computed once per year and language."""
    calendar = holidays.country_holidays("ID", years=year, language=language)
    return {day: str(name) for day, name in calendar.items()}


class Office(BaseModel):
    """An office's configuration plus the calendar questions the booking flow asks of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    timezone: str = "Asia/Jakarta"
    # Where it is, for an applicant choosing among a network's offices (all optional).
    region: str | None = Field(default=None, min_length=1)
    city: str | None = Field(default=None, min_length=1)
    location: Location | None = None
    # Other names people type for it ("jakpus"), matched like its name and city.
    aliases: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    services: list[Service] = Field(min_length=1)
    hours: dict[Weekday, list[Window]]
    # Office events and collective leave (cuti bersama), which the holidays package does not know.
    closed_dates: list[date] = Field(default_factory=list)
    public_holidays: bool = True
    booking: BookingRules = Field(default_factory=BookingRules)
    # bookable_days() answers, by (local day, whether that day's release time has passed).
    _bookable: dict[tuple[date, bool], list[date]] = PrivateAttr(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _check_slug(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown time zone {value!r}; use an IANA name like "Asia/Jakarta"'
            ) from None
        return value

    @field_validator("services")
    @classmethod
    def _check_services(cls, value: list[Service]) -> list[Service]:
        ids: dict[str, int] = {}
        prefixes: dict[str, str] = {}
        for index, service in enumerate(value):
            if service.id in ids:
                raise _At(
                    [index, "id"], f"{service.id!r} is already the id of service {ids[service.id]}"
                )
            if service.prefix in prefixes:
                raise _At(
                    [index, "prefix"],
                    f"{service.prefix!r} is already the prefix of {prefixes[service.prefix]!r}",
                )
            ids[service.id] = index
            prefixes[service.prefix] = service.id
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(
        cls, value: dict[Weekday, list[Window]], info: ValidationInfo
    ) -> dict[Weekday, list[Window]]:
        # services is declared before hours, so it is here unless it failed its own validation.
        services: list[Service] | None = info.data.get("services")
        known = [service.id for service in services] if services is not None else None
        checked: dict[Weekday, list[Window]] = {}
        for weekday in WEEKDAYS:
            windows = value.get(weekday)
            if windows is None:
                continue
            for index, window in enumerate(windows):
                for service_id in window.service_seats:
                    if known is not None and service_id not in known:
                        raise _At(
                            [weekday, index, "service_seats", service_id],
                            f"unknown service {service_id!r}{did_you_mean(service_id, known)} "
                            f"(services: {', '.join(known)})",
                        )
            # Sorted by start, any overlap shows up between neighbours. Overlap-free windows have
            # distinct starts, hence distinct ids ("0800-1000"), which the seat book relies on.
            ordered = sorted(enumerate(windows), key=lambda pair: pair[1].start)
            for (_, before), (index, after) in pairwise(ordered):
                if after.start < before.end:
                    raise _At(
                        [weekday, index],
                        f"window {after.label} overlaps window {before.label}",
                    )
            checked[weekday] = [window for _, window in ordered]
        if not any(checked.values()):
            raise ValueError("no opening windows on any weekday, so nothing could be booked")
        return checked

    # -- lookups -------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def windows(self, day: date) -> list[Window]:
        """The weekly windows of ``day``'s weekday, by start time; closures are not applied."""
        return list(self.hours.get(WEEKDAYS[day.weekday()], ()))

    def window(self, day: date, window_id: str) -> Window | None:
        return next((w for w in self.windows(day) if w.id == window_id), None)

    # -- calendar ------------------------------------------------------------------------------

    def local_today(self, now: datetime) -> date:
        return _aware(now).astimezone(self.tz).date()

    def holiday_name(self, day: date, locale: str = "id") -> str | None:
        """The public holiday on ``day`` in ``locale`` (Indonesian or English), if there is one.

        Independent of ``public_holidays``: it names the day, :meth:`closure` decides.
        """
        language = "en_US" if _locale(locale) == "en" else "id"
        return _holidays(day.year, language).get(day)

    def closure(self, day: date) -> str | None:
        """Why the office is closed on ``day``, or ``None`` when it is open.

        ``"closed_date"``, ``"holiday:<Indonesian holiday name>"`` or ``"no_hours"``, checked in
        that order (the most specific reason first).
        """
        if day in self.closed_dates:
            return "closed_date"
        if self.public_holidays:
            holiday = self.holiday_name(day)
            if holiday is not None:
                return f"holiday:{holiday}"
        if not self.windows(day):
            return "no_hours"
        return None

    def release_at(self, day: date) -> datetime:
        """When the quota of ``day`` opens: release_time on ``day - days_ahead``, office time."""
        opens = day - timedelta(days=self.booking.days_ahead)
        return datetime.combine(opens, self.booking.release_time, tzinfo=self.tz)

    def is_released(self, day: date, now: datetime) -> bool:
        return _aware(now) >= self.release_at(day)

    def bookable_days(self, now: datetime) -> list[date]:
        """Open days that can be booked at ``now``, ascending.

        From local today + min_days_ahead up to the last released day (today + days_ahead once
        today's release time has passed, one day less before it).
        """
        today = self.local_today(now)
        # The answer changes only at midnight and at the release time (the office is frozen):
        # asked several times a turn, it is worked out once per (day, before or after release).
        key = (today, self.is_released(today + timedelta(days=self.booking.days_ahead), now))
        days = self._bookable.get(key)
        if days is None:
            rules = self.booking
            every = _day_range(
                today + timedelta(days=rules.min_days_ahead),
                today + timedelta(days=rules.days_ahead),
            )
            days = [d for d in every if self.is_released(d, now) and self.closure(d) is None]
            if len(self._bookable) > 64:
                self._bookable.clear()
            self._bookable[key] = days
        return list(days)

    def window_start(self, day: date, window_id: str) -> datetime:
        """When window ``window_id`` of ``day`` starts, office time. KeyError for an unknown id."""
        window = self.window(day, window_id)
        if window is None:
            raise KeyError(f"no window {window_id!r} on {day.isoformat()}")
        return datetime.combine(day, window.start, tzinfo=self.tz)

    def next_release(self, now: datetime) -> datetime | None:
        """The first release instant after ``now`` that opens a day the office is open.

        For "new days open at ..." messages; ``None`` if no day opens within about a year.
        """
        now = _aware(now)
        release_day = self.local_today(now)
        if now >= datetime.combine(release_day, self.booking.release_time, tzinfo=self.tz):
            release_day += timedelta(days=1)
        for offset in range(_RELEASE_SEARCH_DAYS):
            day = release_day + timedelta(days=offset + self.booking.days_ahead)
            if self.closure(day) is None:
                return self.release_at(day)
        return None


def _aware(now: datetime) -> datetime:
    # A naive datetime would silently be taken as the server's local time.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("expected a timezone-aware datetime, e.g. datetime(..., tzinfo=UTC)")
    return now


def _day_range(first: date, last: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


# -- loading -----------------------------------------------------------------------------------

DEMO_OFFICE = "demo/office.toml"

# Keys the file keeps under [office]; the other top-level tables map one-to-one onto fields.
_OFFICE_TABLE_KEYS = (
    "id",
    "name",
    "address",
    "timezone",
    "region",
    "city",
    "location",
    "aliases",
    "public_holidays",
    "closed_dates",
)
_TOP_LEVEL_KEYS = ("office", "booking", "services", "hours")


def load_office(path: Path | None) -> Office:
    """Read and validate an office file; ``None`` loads the shipped demo office.

    Raises :class:`ConfigError` naming the file and the offending key for any problem.
    """
    if path is None:
        resource = resources.files("bot.booking").joinpath(DEMO_OFFICE)
        label = f"bot/booking/{DEMO_OFFICE}"
        try:
            raw = resource.read_bytes()
        except OSError as exc:
            raise ConfigError(f"demo office file {label} is missing from the package") from exc
    else:
        label = str(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(f"office file {label}: no such file") from exc
        except OSError as exc:
            raise ConfigError(f"office file {label}: cannot be read ({exc.strerror})") from exc
    return parse_office(raw, label)


def parse_office(raw: bytes | str, label: str = "<string>") -> Office:
    """Validate the TOML text of an office file; ``label`` names it in error messages."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"office file {label}: not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"office file {label}: invalid TOML: {exc}") from exc

    unknown = [key for key in data if key not in _TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(
            f"office file {label}: {unknown[0]}: unknown top-level key"
            f"{did_you_mean(unknown[0], _TOP_LEVEL_KEYS)} "
            f"(expected [office], [booking], [[services]] and [hours])"
        )
    header = data.pop("office", {})
    if not isinstance(header, dict):
        raise ConfigError(f"office file {label}: office: must be a table ([office])")
    unknown = [key for key in header if key not in _OFFICE_TABLE_KEYS]
    if unknown:
        raise ConfigError(
            f"office file {label}: office.{unknown[0]}: unknown key"
            f"{did_you_mean(unknown[0], _OFFICE_TABLE_KEYS)} "
            f"(expected {', '.join(_OFFICE_TABLE_KEYS)})"
        )
    try:
        return Office.model_validate({**header, **data})
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        if len(problems) == 1:
            raise ConfigError(f"office file {label}: {problems[0]}") from exc
        raise ConfigError(f"office file {label}:\n  " + "\n  ".join(problems)) from exc


def _describe(err: Any) -> str:
    """One pydantic error as ``key.path: message``, with the path as written in the file."""
    loc: list[str | int] = [part for part in err["loc"] if part != "[key]"]
    ctx = err.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(error, _At):
        loc += error.loc
        msg = error.msg
    elif isinstance(error, ValueError):
        msg = str(error)  # our own validators' words, without pydantic's "Value error, "
    elif err["type"] == "extra_forbidden":
        msg = "unknown key" + did_you_mean(str(loc[-1]), _keys_at(loc[:-1]))
    elif err["type"] == "literal_error" and err["loc"][-1:] == ("[key]",):
        # A key that must be one of a few words (a weekday under [hours]).
        msg = err["msg"] + did_you_mean(str(loc[-1]), get_args(Weekday))
    elif err["type"] == "missing":
        msg = "required key is missing"
    else:
        msg = err["msg"]
    # The header fields live under [office] in the file but at the top of the model.
    if not loc or loc[0] in _OFFICE_TABLE_KEYS:
        loc.insert(0, "office")
    return f"{'.'.join(str(part) for part in loc)}: {msg}"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'days_ahead'?)`` for the closest known key, or nothing if none is close."""
    close = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys_at(loc: Sequence[str | int]) -> list[str]:
    """The keys the model at ``loc`` (a path into the office file) accepts."""
    model: Any = Office
    for part in loc:
        if isinstance(part, str) and part in getattr(model, "model_fields", {}):
            model = _model_in(model.model_fields[part].annotation) or model
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``annotation`` (``list[Service]``, ``dict[Weekday, list[Window]]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if found := _model_in(arg):
            return found
    return None
