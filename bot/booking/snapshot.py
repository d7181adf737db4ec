"""A per-process snapshot of seat availability, kept current by the seat scripts' announcements.

The prompts of the booking conversation (days with seats, windows with seats) read availability
on every turn. Every seat script announces what it changed on ``SEATS_CHANNEL`` (see
bot/booking/seats.py): the whole counts hash of a touched day-service, or a day closed or
reopened. One subscriber per process (:class:`bot.infra.pubsub.Subscription`, started by the
composition root) feeds them here, and an entry read once from Redis is patched in place: the
next prompt needs no round trip.

An entry is trusted only while

- the subscription is confirmed live (until then, and after it is lost, nothing is used: reads
  go to Redis; every (re)subscription drops everything);
- its day-service's earliest live hold has not expired (holds give their seats back by the
  clock alone, without an announcement);
- it is younger than ``max_age_ms`` since it was read from Redis (a safety net);
- the office's day has not changed since it was read (bookable days move with the clock).

The snapshot is advisory: it decides what prompts show. Taking a seat (HOLD) stays authoritative.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.booking.seats import Availability, DaySeats
from bot.core import fastjson

# Option lists and other values derived from entries, remembered per process (see :meth:`memo`).
MEMO_LIMIT = 4096


@dataclass(slots=True)
class _Entry:
    closed_key: str
    iso: str
    defaults: dict[str, int]
    closed: bool
    seats: dict[str, Availability]
    first_expiry_ms: int | None
    read_ms: int
    today: date
    version: int


class SeatSnapshot:
    """The availability of the day-services this process asked for, patched by announcements.

    Not thread-safe; one per event loop (the process's). ``now_ms`` arguments come from the
    injected clock, like the scripts' ``now``."""

    def __init__(self, max_age_ms: int = 30_000) -> None:
        self.max_age_ms = max_age_ms
        self._live = False
        self._entries: dict[str, _Entry] = {}
        self._by_day: dict[tuple[str, str], set[str]] = {}
        self._versions = itertools.count(1)
        # Events (announcements, resets) are numbered; a read that started before an event of
        # its day-service may be older than what that event said, and is not kept.
        self._event = 0
        self._reset_at = 0
        self._closed_at = 0
        self._touched: dict[str, int] = {}
        self._reading = 0
        self._memo: dict[Hashable, tuple[Hashable, Any]] = {}
        self.announcements = 0

    # -- the subscription's side ---------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, live: bool) -> None:
        """The subscription is (re)confirmed or lost: either way, everything known is dropped."""
        self._live = live
        self._entries.clear()
        self._by_day.clear()
        self._memo.clear()
        self._event += 1
        self._reset_at = self._event

    def on_message(self, data: str | bytes) -> None:
        """One announcement from the seat scripts (a JSON array, see LUA_HELPERS)."""
        self.announcements += 1
        try:
            doc = fastjson.loads(data)
            kind = doc[0]
        except (ValueError, TypeError, IndexError):
            return
        self._event += 1
        if kind == "c":
            self._closed_at = self._event
            for day_key in self._by_day.pop((str(doc[1]), str(doc[2])), set()):
                self._entries.pop(day_key, None)
            return
        if kind != "d":
            return
        day_key = str(doc[1])
        if self._reading:
            self._touched[day_key] = self._event
        entry = self._entries.get(day_key)
        if entry is None:
            return
        flat = doc[3] if isinstance(doc[3], list) else []
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        entry.seats = {
            window: Availability(
                0 if entry.closed else int(fields.get(f"cap:{window}", default)),
                int(fields.get(f"booked:{window}", 0)),
                max(0, int(fields.get(f"held:{window}", 0))),
            )
            for window, default in entry.defaults.items()
        }
        entry.first_expiry_ms = int(float(doc[2])) if doc[2] else None
        entry.version = next(self._versions)

    # -- the readers' side ---------------------------------------------------------------------

    def get(self, day_key: str, now_ms: int, today: date) -> tuple[dict[str, Availability], int]:
        """The trusted seats of a day-service and their version; KeyError when not trusted."""
        entry = self._entries[day_key]
        if (
            not self._live
            or entry.today != today
            or now_ms >= entry.read_ms + self.max_age_ms
            or (entry.first_expiry_ms is not None and now_ms >= entry.first_expiry_ms)
        ):
            raise KeyError(day_key)
        return entry.seats, entry.version

    def begin_read(self) -> int:
        """Call before reading from Redis what :meth:`put` will keep; pass the result to it,
        and call :meth:`end_read` after."""
        self._reading += 1
        return self._event

    def end_read(self) -> None:
        self._reading -= 1
        if not self._reading:
            self._touched.clear()

    def put(
        self,
        since: int,
        day_key: str,
        closed_key: str,
        iso: str,
        defaults: Mapping[str, int],
        read: DaySeats,
        now_ms: int,
        today: date,
    ) -> int | None:
        """Keep what was read (from a read begun at ``since``); its version, or None if it was
        not kept (not live, or an announcement of it may be newer)."""
        if (
            not self._live
            or self._reset_at > since
            or self._closed_at > since
            or self._touched.get(day_key, 0) > since
        ):
            return None
        version = next(self._versions)
        self._entries[day_key] = _Entry(
            closed_key,
            iso,
            dict(defaults),
            read.closed,
            read.seats,
            read.first_expiry_ms,
            now_ms,
            today,
            version,
        )
        self._by_day.setdefault((closed_key, iso), set()).add(day_key)
        return version

    def memo(self, key: Hashable, token: Hashable, compute: Callable[[], Any]) -> Any:
        """A value derived from entries, computed once per ``token`` (their versions)."""
        hit = self._memo.get(key)
        if hit is not None and hit[0] == token:
            return hit[1]
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        value = compute()
        self._memo[key] = (token, value)
        return value
