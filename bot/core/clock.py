"""Time comes from an injected clock so that tests never sleep or depend on today's date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(
                "ManualClock needs a timezone-aware start, e.g. datetime(..., tzinfo=UTC)"
            )
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def set(self, when: datetime) -> None:
        self._now = when


def ms(when: datetime) -> int:
    """Milliseconds since the epoch, the unit every Lua script takes its time in."""
    return int(when.timestamp() * 1000)


def parse_day(value: str | None) -> date | None:
    """The day an ISO date (``2026-12-08``) names, or None for nothing or anything else."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
