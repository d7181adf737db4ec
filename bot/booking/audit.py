"""The audit log: who did what, when, and with what result, in one Redis stream per office.

Staff actions (commands, including refused ones) and applicant events (booked, cancelled,
rescheduled, checked_in, no_show) are appended with ``XADD ... MAXLEN ~ 100000``, so the log keeps
roughly the last hundred thousand entries without a cleanup job.

What an entry may hold: a staff identity as-is (staff identities are configuration, not secrets); an
applicant's identity only as a pseudonym (:func:`bot.infra.logs.anon`, a phone number is personal
data); booking ids, days, windows, queue numbers. Never a NIK: :meth:`Audit.record` refuses a
``nik`` field and blanks anything in a detail that looks like one (a user may type a NIK as a
command argument), because this log is kept for months. Dates (2026-12-08) and windows
(0800-1000) are left alone: side by side they have the digits of a NIK, but they are not one.

What each staff command logs of what was typed, and why:

- ``/stats``, ``/quota``, ``/close``, ``/reopen``: their arguments (days, windows, seat counts,
  service names, a closure's reason). None of them is about a person; the reason of a closure
  is a notice to every applicant of the day anyway.
- ``/checkin``: never its argument. It is a booking code, a credential that admits a person
  until used, and a mistyped one may be a NIK read off an e-KTP. The booking id (once the code
  parses) is logged instead.
- ``/broadcast``: the audience (``day:...``, ``window:...``, ``active``), never the text, which
  may name people and is kept with the broadcast itself for as long as it needs to be.
- An applicant who types a staff command: the command name only, under a pseudonym.

Times are stored as UTC milliseconds and printed in the office's time zone with its label.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.booking.replies import text as _text
from bot.core.clock import Clock, ms
from bot.core.writes import Write, run
from bot.errors import StorageError
from bot.infra.keys import StaffKeys
from bot.infra.logs import anon
from bot.infra.metrics import BOOKING_ACTIONS, BOOKING_EVENTS

MAX_ENTRIES = 100_000
# Twelve or more digits, maybe grouped by spaces, dots or dashes: possibly a NIK (or a phone
# number), which a log must not hold either way.
_NIK_LIKE = re.compile(r"\d(?:[\s.\-]*\d){11,}")
# A whole word that is a date (2026-12-08) or a window (0800-1000, 08:00-10:00): not personal
# data, and excluded before looking for NIKs, which would otherwise find 12 digits in
# "2026-12-08 0800-1000". A window needs its dash: a lone "2345" may be a quarter of a NIK.
_HOUR = r"(?:[01]\d|2[0-3]):?[0-5]\d"
_NOT_PERSONAL = re.compile(rf"(?<!\S)(?:\d{{4}}-\d{{2}}-\d{{2}}|{_HOUR}[-\u2013]{_HOUR})(?!\S)")


def redact(text: str) -> str:
    """``text`` with anything shaped like a NIK (or a phone number) blanked, dates and windows
    kept."""
    out: list[str] = []
    start = 0
    for kept in _NOT_PERSONAL.finditer(text):
        out += [_NIK_LIKE.sub("[redacted]", text[start : kept.start()]), kept.group()]
        start = kept.end()
    out.append(_NIK_LIKE.sub("[redacted]", text[start:]))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    at: datetime
    actor: str
    action: str
    result: str
    details: dict[str, str]

    def line(self, tz: tzinfo = UTC) -> str:
        """The entry on one line, its time in ``tz`` with the zone's label (WIB, WITA, UTC)."""
        at = self.at.astimezone(tz)
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.details.items()))
        when = f"{at:%Y-%m-%d %H:%M:%S} {at.tzname()}"
        return f"{when} {self.actor} {self.action} {self.result} {extra}".rstrip()


def applicant(identity: str) -> str:
    """How an applicant appears in the log: a stable pseudonym, never the phone number."""
    return "user:" + anon(identity)


class Audit:
    def __init__(self, redis: aioredis.Redis, office_id: str, clock: Clock) -> None:
        self._redis = redis
        self._office = office_id
        self._key = StaffKeys(office_id).audit
        self._clock = clock

    def entry(self, actor: str, action: str, result: str, **details: object) -> Write:
        """One entry as a write to send with the turn's save (:meth:`Context.later
        <bot.core.dialog.Context.later>`). ``actor`` is a staff identity, ``applicant()`` of an
        applicant's identity, or ``system:<job>``."""
        fields: list[str] = [
            "at",
            str(ms(self._clock.now())),
            "actor",
            actor,
            "action",
            action,
            "result",
            result,
        ]
        if "nik" in details:
            raise ValueError("NIKs are never logged")
        for name, value in details.items():
            if value is not None:
                # Details can carry what a user typed (a command's arguments): anything shaped
                # like a NIK is blanked rather than refused, so that a mistyped command is logged.
                fields += [name, redact(str(value))]
        if result == "ok" and action in BOOKING_ACTIONS:
            BOOKING_EVENTS.labels(BOOKING_ACTIONS[action], self._office).inc()
        return Write(("XADD", self._key, "MAXLEN", "~", MAX_ENTRIES, "*", *fields))

    async def record(self, actor: str, action: str, result: str, **details: object) -> str:
        """Append one entry now; returns its stream id. See :meth:`entry`."""
        write = self.entry(actor, action, result, **details)
        try:
            entry_id = await self._redis.execute_command(*write.args)  # type: ignore[no-untyped-call]
        except RedisError as exc:
            raise StorageError(f"audit log: {exc}") from exc
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def record_all(self, *entries: Write) -> None:
        """Append several :meth:`entry` writes now, in one round trip (one pipeline)."""
        try:
            await run(self._redis, entries)
        except RedisError as exc:
            raise StorageError(f"audit log: {exc}") from exc

    async def latest(self, limit: int = 50) -> list[Entry]:
        """The newest ``limit`` entries, oldest first."""
        try:
            rows: list[Any] = await self._redis.xrevrange(self._key, count=limit) or []
        except RedisError as exc:
            raise StorageError(f"audit log: {exc}") from exc
        return [_entry(entry_id, fields) for entry_id, fields in reversed(rows)]


def _entry(entry_id: object, raw: Mapping[Any, Any] | None) -> Entry:
    fields = {_text(k): _text(v) for k, v in (raw or {}).items()}
    at = datetime.fromtimestamp(int(fields.pop("at", "0")) / 1000, tz=UTC)
    actor = fields.pop("actor", "?")
    action = fields.pop("action", "?")
    result = fields.pop("result", "?")
    return Entry(_text(entry_id), at, actor, action, result, fields)


async def print_audit(audit: Audit, tz: tzinfo, limit: int = 50, out: TextIO | None = None) -> int:
    """``antrean audit``: print the newest ``limit`` entries of the log, oldest first, in the
    office's time zone ``tz``."""
    out = out or sys.stdout
    entries = await audit.latest(limit)
    for entry in entries:
        print(entry.line(tz), file=out)
    if not entries:
        print("(the audit log is empty)", file=out)
    return len(entries)
