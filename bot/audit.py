"""The audit log: who did what, when, and with what result, in one Redis stream per office.

Staff actions (commands, including refused ones) and applicant events (booked, cancelled,
rescheduled, checked_in, no_show) are appended with ``XADD ... MAXLEN ~ 100000``, so the log keeps
roughly the last hundred thousand entries without a cleanup job.

What an entry may hold: a staff identity as-is (staff identities are configuration, not secrets);
an applicant's identity only as a pseudonym (:func:`bot.engine.anon`, a phone number is personal
data); booking ids, days, windows, queue numbers. Never a NIK: :meth:`Audit.record` refuses a
``nik`` field and blanks anything in a detail that looks like one (a user may type a NIK as a
command argument), because this log is kept for months.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.clock import Clock, ms
from bot.engine import anon
from bot.errors import StorageError
from bot.keys import StaffKeys
from bot.metrics import BOOKING_ACTIONS, BOOKING_EVENTS
from bot.replies import text as _text
from bot.writes import Write

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings

MAX_ENTRIES = 100_000
# Twelve or more digits, maybe grouped by spaces, dots or dashes: possibly a NIK (or a phone
# number), which a log must not hold either way.
_NIK_LIKE = re.compile(r"\d(?:[\s.\-]*\d){11,}")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    at: datetime
    actor: str
    action: str
    result: str
    details: dict[str, str]

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.details.items()))
        return f"{self.at:%Y-%m-%d %H:%M:%S}Z {self.actor} {self.action} {self.result} {extra}"


def applicant(identity: str) -> str:
    """How an applicant appears in the log: a stable pseudonym, never the phone number."""
    return "user:" + anon(identity)


class Audit:
    def __init__(self, redis: aioredis.Redis, office_id: str, clock: Clock) -> None:
        self._redis = redis
        self._key = StaffKeys(office_id).audit
        self._clock = clock

    @classmethod
    def of(cls, app: App) -> Audit:
        return cls(app.redis, app.office.id, app.clock)

    def entry(self, actor: str, action: str, result: str, **details: object) -> Write:
        """One entry as a write to send with the turn's save (:meth:`Context.later
        <bot.dialog.Context.later>`). ``actor`` is a staff identity, ``applicant()`` of an
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
                fields += [name, _NIK_LIKE.sub("[redacted]", str(value))]
        if result == "ok" and action in BOOKING_ACTIONS:
            BOOKING_EVENTS.labels(BOOKING_ACTIONS[action]).inc()
        return Write(("XADD", self._key, "MAXLEN", "~", MAX_ENTRIES, "*", *fields))

    async def record(self, actor: str, action: str, result: str, **details: object) -> str:
        """Append one entry now; returns its stream id. See :meth:`entry`."""
        write = self.entry(actor, action, result, **details)
        try:
            entry_id = await self._redis.execute_command(*write.args)  # type: ignore[no-untyped-call]
        except RedisError as exc:
            raise StorageError(f"audit log: {exc}") from exc
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

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


async def print_audit(settings: Settings, limit: int = 50, out: TextIO | None = None) -> int:
    """``antrean audit``: print the newest ``limit`` entries of the office's log, oldest first."""
    from bot.clock import SystemClock
    from bot.embedded import release_shared_server
    from bot.office import load_office
    from bot.redis import connect

    out = out or sys.stdout
    office = load_office(settings.office_config)
    client, server = connect(settings)
    try:
        entries = await Audit(client, office.id, SystemClock()).latest(limit)
    finally:
        await client.aclose()
        if server is not None:
            release_shared_server(server)
    for entry in entries:
        print(entry.line(), file=out)
    if not entries:
        print("(the audit log is empty)", file=out)
    return len(entries)
