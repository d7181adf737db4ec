"""The office's day at the counter: the day's roster, and calling checked-in applicants.

Every booking of an office-day is in its roster (:meth:`OfficeKeys.roster`, kept by the seat
scripts), ordered for calling: by its window's start, then its queue number (numbers are issued
per window in ranges, so that is number order: bot/booking/seats.py). A booking's state is its
``status``: ``active`` (booked), ``checked_in``, ``called``, ``served``, ``no_show`` or
``cancelled``.

Checking in (bot/booking/counter.py) puts a booking on the day's waiting line
(:meth:`OfficeKeys.waiting`, same order). A counter (numbered 1-20) then calls the next one:
:data:`CALL_NEXT` pops the line in one script, so two counters calling at once never get the same
applicant. The counter may call the same applicant again (:data:`RECALL`), then ends the call as
served or no-show (:data:`FINISH`); until then it cannot call another. Which booking each counter
has called is a hash per day (:meth:`OfficeKeys.counters`). Every script runs in the office's
``{o:<office>}`` slot, one round trip each.

A no-show at the counter (the applicant checked in, was called and did not come) is not a
day-end no-show: it records no strike against the NIK (bot/booking/desk.py mark_no_shows does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.booking.replies import pairs as _pairs
from bot.booking.replies import text as _text
from bot.booking.seats import DAY_MARK, ID_MARK, LUA_HELPERS, RETENTION
from bot.core.clock import Clock, ms
from bot.errors import StorageError
from bot.infra.keys import CALLS_CHANNEL, OfficeKeys

# Days whose roster :meth:`Calls.roster` keeps, at most (it starts again past that).
KEPT_DAYS = 4
# Counters are numbered 1..MAX_COUNTER.
MAX_COUNTER = 20

# What the page shows of a booking (never its NIK hash or account).
SHOWN = (
    "id",
    "number",
    "prefix",
    "window",
    "service",
    "name",
    "nik_last4",
    "status",
    "counter",
    "calls",
)

# How many calls a day's call list keeps (a display shows the newest SHOWN_CALLS of them).
KEPT_CALLS = 20

# Announce a call (a call next or a recall) to the waiting-room displays: the entry goes first
# on the day's call list (trimmed, expiring with the counters hash) and is published on
# CALLS_CHANNEL. Its ``seq`` is the roster version the call made (raised by ``mark`` just
# before), so it grows with every call of the day: the displays' event id.
#   announce(list_key, roster_key, channel, office, day, id, booking_key, counter, expiry_ms)
ANNOUNCE = (
    """
local function announce(list_key, roster_key, channel, office, day, id, booking_key, counter,
    expiry)
  local b = redis.call('HMGET', booking_key, 'prefix', 'number', 'calls')
  local entry = cjson.encode({
    seq = tonumber(redis.call('GET', roster_key .. ':version') or '0'),
    office = office, day = day, id = id, counter = tonumber(counter),
    number = string.format('%s-%03d', b[1] or '', tonumber(b[2] or '0')),
    calls = tonumber(b[3] or '1')})
  redis.call('LPUSH', list_key, entry)
  redis.call('LTRIM', list_key, 0, """
    + str(KEPT_CALLS - 1)
    + """)
  if expiry and expiry > 0 then redis.call('PEXPIREAT', list_key, expiry) end
  redis.call('PUBLISH', channel, entry)
end
"""
)

# Call the next applicant of the waiting line to a counter.
#   KEYS[1] the day's waiting line  KEYS[2] the day's counters (counter -> called booking)
#   KEYS[3] the day's roster (its version and change log are noted)
#   ARGV[1] now (ms)  ARGV[2] counter  ARGV[3] staff identity  ARGV[4] booking template (id
#   marker)  ARGV[5] expiry of the counters hash (ms)
#   KEYS[4] the day's call list  ARGV[6] the calls channel  ARGV[7] office id  ARGV[8] day
# Returns {'OK', booking fields (flat)} | {'ERR', 'busy', fields of the booking the counter has
# called and not finished} | {'ERR', 'empty', {}}. Ids on the line whose booking is no longer
# checked in (or is gone) are dropped on the way.
CALL_NEXT = (
    LUA_HELPERS
    + ANNOUNCE
    + """
local current = redis.call('HGET', KEYS[2], ARGV[2])
if current then
  local key = fill(ARGV[4], ID_MARK, current)
  if redis.call('HGET', key, 'status') == 'called' then
    return {'ERR', 'busy', redis.call('HGETALL', key)}
  end
end
while true do
  local popped = redis.call('ZPOPMIN', KEYS[1])
  if #popped == 0 then return {'ERR', 'empty', {}} end
  local key = fill(ARGV[4], ID_MARK, popped[1])
  if redis.call('HGET', key, 'status') == 'checked_in' then
    redis.call('HSET', key, 'status', 'called', 'counter', ARGV[2], 'called_at', ARGV[1],
      'called_by', ARGV[3], 'calls', 1)
    redis.call('HSET', KEYS[2], ARGV[2], popped[1])
    redis.call('PEXPIREAT', KEYS[2], ARGV[5])
    mark(KEYS[3], popped[1], key)
    announce(KEYS[4], KEYS[3], ARGV[6], ARGV[7], ARGV[8], popped[1], key, ARGV[2],
      tonumber(ARGV[5]))
    return {'OK', redis.call('HGETALL', key)}
  end
end
"""
)

# Call again the applicant a counter has called (they did not come yet), or end that call.
#   KEYS[1] the day's counters  KEYS[2] the day's roster (its version and change log are noted)
#   ARGV[1] now (ms)  ARGV[2] counter  ARGV[3] staff identity  ARGV[4] booking template
#   ARGV[5] the booking id the page showed ('' for whichever it is)
#   ARGV[6] 'recall' | 'served' | 'no_show'
#   KEYS[3] the day's call list  ARGV[7] the calls channel  ARGV[8] office id  ARGV[9] day
#   (a recall is announced like a call: :data:`ANNOUNCE`)
# Returns {'OK', booking fields (flat)} | {'ERR', 'none', {}} (the counter has no call open) |
# {'ERR', 'stale', fields of the counter's call} (the page showed another booking).
FINISH = (
    LUA_HELPERS
    + ANNOUNCE
    + """
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return {'ERR', 'none', {}} end
local key = fill(ARGV[4], ID_MARK, id)
if redis.call('HGET', key, 'status') ~= 'called' then
  redis.call('HDEL', KEYS[1], ARGV[2])
  return {'ERR', 'none', {}}
end
if ARGV[5] ~= '' and ARGV[5] ~= id then return {'ERR', 'stale', redis.call('HGETALL', key)} end
if ARGV[6] == 'recall' then
  redis.call('HINCRBY', key, 'calls', 1)
  redis.call('HSET', key, 'called_at', ARGV[1], 'called_by', ARGV[3])
else
  redis.call('HSET', key, 'status', ARGV[6], 'done_at', ARGV[1], 'done_by', ARGV[3])
  redis.call('HDEL', KEYS[1], ARGV[2])
end
mark(KEYS[2], id, key)
if ARGV[6] == 'recall' then
  announce(KEYS[3], KEYS[2], ARGV[7], ARGV[8], ARGV[9], id, key, ARGV[2],
    redis.call('PEXPIRETIME', KEYS[1]))
end
return {'OK', redis.call('HGETALL', key)}
"""
)
RECALL, SERVED, NO_SHOW = "recall", "served", "no_show"

# The bookings of a day's roster that changed since a version the reader saw, or all of them.
#   KEYS[1] the day's roster (its version and change log are derived from it)
#   ARGV[1] booking template  ARGV[2] the version the reader saw ('' for all)  ARGV[3..] the
#   fields to read
# Returns {version now, 1 if every booking is listed else 0, rows}: per booking its call order
# (false when it left the roster: moved to another day, or gone), its id, then the fields'
# values (false for a missing one). A version above the roster's (it expired and started again)
# lists all.
ROSTER = (
    LUA_HELPERS
    + """
local version = tonumber(redis.call('GET', KEYS[1] .. ':version') or '0')
local since = tonumber(ARGV[2])
local all = since == nil or since > version
local ids
if all then
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[1] .. ':changes', '(' .. since, '+inf')
end
local out = {}
for _, id in ipairs(ids) do
  local values = redis.call('HMGET', fill(ARGV[1], ID_MARK, id), unpack(ARGV, 3))
  local order = redis.call('ZSCORE', KEYS[1], id)
  if not values[1] then
    redis.call('ZREM', KEYS[1], id)
    order = false
  end
  table.insert(values, 1, id)
  table.insert(values, 1, order or false)
  out[#out + 1] = values
end
return {version, all and 1 or 0, out}
"""
)

# The one-off backfill of the office's rosters (a process runs it before its first roster read):
# an active booking made before rosters existed joins its day's roster in call order, marked as
# changed, so the counter page lists it as booked before it is checked in. Found by the office's
# NIK index (every active booking has its NIK's entry); a booking already there is left as it is.
# The marker makes it run once per office.
#   KEYS[1] niks  KEYS[2] the backfill's marker  ARGV[1] booking template (id marker)
#   ARGV[2] roster template (day marker)
# Returns how many bookings were added; false when it was done already.
ROSTER_BACKFILL = (
    LUA_HELPERS
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local added = 0
for _, id in ipairs(redis.call('HVALS', KEYS[1])) do
  local booking_key = fill(ARGV[1], ID_MARK, id)
  local f = redis.call('HMGET', booking_key, 'status', 'day', 'window', 'number')
  if f[1] == 'active' and f[2] and f[3] and tonumber(f[4]) then
    local roster = fill(ARGV[2], DAY_MARK, f[2])
    if redis.call('ZADD', roster, 'NX', call_order(f[3], f[4]), id) == 1 then
      added = added + 1
      local expiry = redis.call('PEXPIRETIME', booking_key)
      if expiry > 0 then redis.call('PEXPIREAT', roster, expiry) end
      mark(roster, id, booking_key)
    end
  end
end
redis.call('SET', KEYS[2], '1')
return added
"""
)


@dataclass
class _Day:
    """What this process last read of one day's roster: its version, and its visits by id with
    their call order."""

    version: int = -1
    visits: dict[str, tuple[float, Visit]] = field(default_factory=dict)
    ordered: list[Visit] = field(default_factory=list)
    # id -> position in ``ordered``: a change of state (most changes) keeps a booking's place.
    index: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Visit:
    """One booking of the day as the counter sees it."""

    id: str
    number: int
    prefix: str
    window: str
    service: str
    name: str
    nik_last4: str
    status: str
    counter: int | None
    calls: int

    @property
    def queue_number(self) -> str:
        return f"{self.prefix}-{self.number:03d}"

    @classmethod
    def from_row(cls, row: list[Any]) -> Visit:
        """From the values of :data:`SHOWN`, in order, as ROSTER returns them."""
        v = [_text(value) if value is not None else "" for value in row]
        return cls(
            id=v[0],
            number=int(v[1]),
            prefix=v[2],
            window=v[3],
            service=v[4],
            name=v[5],
            nik_last4=v[6],
            status=v[7],
            counter=int(v[8]) if v[8].isdigit() else None,
            calls=int(v[9] or 0),
        )

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Visit:
        counter = fields.get("counter") or ""
        return cls(
            id=fields["id"],
            number=int(fields["number"]),
            prefix=fields["prefix"],
            window=fields["window"],
            service=fields["service"],
            name=fields["name"],
            nik_last4=fields["nik_last4"],
            status=fields["status"],
            counter=int(counter) if counter.isdigit() else None,
            calls=int(fields.get("calls") or 0),
        )


@dataclass(frozen=True, slots=True)
class Called:
    """One call to a counter as the call list keeps it (:data:`ANNOUNCE`)."""

    seq: int
    office: str
    day: str
    id: str
    number: str
    counter: int
    calls: int

    @classmethod
    def from_json(cls, raw: str | bytes) -> Called:
        v = json.loads(raw)
        return cls(
            seq=int(v["seq"]),
            office=str(v["office"]),
            day=str(v["day"]),
            id=str(v["id"]),
            number=str(v["number"]),
            counter=int(v["counter"]),
            calls=int(v.get("calls") or 1),
        )

    def shown(self) -> dict[str, Any]:
        """What a display gets of it (no booking id)."""
        return {"seq": self.seq, "number": self.number, "counter": self.counter}


class CallRefused(Exception):
    """A call the counter cannot make: ``reason`` is busy (it has a call open: ``visit``),
    empty (nobody checked in is waiting), none (no call open) or stale (the page showed another
    booking than the counter's call, ``visit``)."""

    def __init__(self, reason: str, visit: Visit | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.visit = visit


def check_counter(counter: int) -> int:
    if not 1 <= counter <= MAX_COUNTER:
        raise ValueError(f"a counter is numbered 1-{MAX_COUNTER}, not {counter}")
    return counter


class Calls:
    """The roster and the calls of one office's days."""

    def __init__(self, redis: aioredis.Redis, office_id: str, clock: Clock) -> None:
        self._redis = redis
        self._office = office_id
        self._clock = clock
        self._keys = OfficeKeys(office_id)
        self._call_next = redis.register_script(CALL_NEXT)
        self._finish = redis.register_script(FINISH)
        self._roster = redis.register_script(ROSTER)
        self._backfill = redis.register_script(ROSTER_BACKFILL)
        self._booking_template = self._keys.booking(ID_MARK)
        self._days: dict[str, _Day] = {}
        self._backfilled = False

    async def roster(self, day: date) -> list[Visit]:
        """Every booking of ``day`` in call order, in one script call. This process keeps what
        it read and asks only for what changed since (a counter page reloaded after each action
        re-reads a whole day of which one booking changed)."""
        if not self._backfilled:
            await self.backfill()
        iso = day.isoformat()
        seen = self._days.get(iso)
        if seen is None:
            if len(self._days) >= KEPT_DAYS:
                self._days.clear()
            seen = self._days[iso] = _Day()
        version, everything, rows = await self._call(
            self._roster,
            [self._keys.roster(iso)],
            [self._booking_template, "" if seen.version < 0 else seen.version, *SHOWN],
        )
        version = int(version)
        if version <= seen.version and not int(everything):
            return list(seen.ordered)  # a reply older than one already applied, or nothing new
        visits = {} if int(everything) else dict(seen.visits)
        # Sorted again only when a booking joined, left or moved; a new state (checked in,
        # called, served) replaces the visit where it stands.
        moved = bool(int(everything))
        changed: list[str] = []
        for row in rows:
            booking_id = _text(row[1])
            if row[0] is None:
                if visits.pop(booking_id, None) is not None:
                    moved = True
                continue
            order = float(row[0])
            before = visits.get(booking_id)
            if before is None or before[0] != order:
                moved = True
            visits[booking_id] = (order, Visit.from_row(row[2:]))
            changed.append(booking_id)
        seen.visits = visits
        seen.version = version
        if moved:
            items = sorted(visits.items(), key=lambda kv: (kv[1][0], kv[1][1].id))
            seen.ordered = [visit for _, (_, visit) in items]
            seen.index = {booking_id: n for n, (booking_id, _) in enumerate(items)}
        else:
            for booking_id in changed:
                seen.ordered[seen.index[booking_id]] = visits[booking_id][1]
        return list(seen.ordered)

    async def backfill(self) -> int | None:
        """Put the office's active bookings made before rosters existed in their day's roster,
        once per office (one script call; this process asks once). How many were added; None
        when it was done already."""
        added = await self._call(
            self._backfill,
            [self._keys.niks, self._keys.rosters_backfilled],
            [self._booking_template, self._keys.roster(DAY_MARK)],
        )
        self._backfilled = True
        return None if added is None else int(added)

    async def call_next(self, day: date, counter: int, *, staff: str) -> Visit:
        """Call the first applicant of ``day``'s waiting line to ``counter``; raises
        :class:`CallRefused` (busy, empty)."""
        iso = day.isoformat()
        reply = await self._call(
            self._call_next,
            [
                self._keys.waiting(iso),
                self._keys.counters(iso),
                self._keys.roster(iso),
                self._keys.calls(iso),
            ],
            [
                self._now(),
                check_counter(counter),
                staff,
                self._booking_template,
                ms(_day_start(day) + RETENTION),
                CALLS_CHANNEL,
                self._office,
                iso,
            ],
        )
        return self._visit(reply)

    async def finish(
        self, day: date, counter: int, action: str, *, staff: str, booking_id: str = ""
    ) -> Visit:
        """``action`` (:data:`RECALL`, :data:`SERVED` or :data:`NO_SHOW`) on the call
        ``counter`` has open; ``booking_id`` is the one the page showed ('' for any). Raises
        :class:`CallRefused` (none, stale)."""
        if action not in (RECALL, SERVED, NO_SHOW):
            raise ValueError(f"unknown action {action!r}")
        iso = day.isoformat()
        reply = await self._call(
            self._finish,
            [self._keys.counters(iso), self._keys.roster(iso), self._keys.calls(iso)],
            [
                self._now(),
                check_counter(counter),
                staff,
                self._booking_template,
                booking_id,
                action,
                CALLS_CHANNEL,
                self._office,
                iso,
            ],
        )
        return self._visit(reply)

    async def latest(self, day: date, count: int = KEPT_CALLS) -> list[Called]:
        """The newest ``count`` calls of ``day`` (call next and recall), newest first: one
        round trip."""
        try:
            raw = await self._redis.lrange(self._keys.calls(day.isoformat()), 0, count - 1)
        except RedisError as exc:
            raise StorageError(f"calls of {self._office}: {exc}") from exc
        return [Called.from_json(entry) for entry in raw]

    async def notice_targets(
        self, day: date, booking_id: str, ahead: int
    ) -> tuple[dict[str, str], list[dict[str, str]]]:
        """For the chat notices after a call: the called booking's fields, and the fields of
        the first ``ahead + 1`` bookings of ``day``'s waiting line (in line order; position i
        has i numbers ahead of it). Two round trips."""
        wanted = ("account", "locale", "prefix", "number", "status", "day")
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._keys.booking(booking_id))
                pipe.zrange(self._keys.waiting(day.isoformat()), 0, ahead)
                fields, line = await pipe.execute()
            async with self._redis.pipeline(transaction=False) as pipe:
                for other in line:
                    pipe.hmget(self._keys.booking(_text(other)), *wanted)
                rows = await pipe.execute() if line else []
        except RedisError as exc:
            raise StorageError(f"calls of {self._office}: {exc}") from exc
        waiting = []
        for other, values in zip(line, rows, strict=True):
            row = {k: _text(v) for k, v in zip(wanted, values, strict=True) if v is not None}
            if row.get("status") == "checked_in":
                waiting.append({"id": _text(other), **row})
        return _pairs_text(fields), waiting

    def _now(self) -> int:
        return ms(self._clock.now())

    @staticmethod
    def _visit(reply: Any) -> Visit:
        if _text(reply[0]) == "OK":
            return Visit.from_fields(_pairs(reply[1]))
        fields = _pairs(reply[2])
        raise CallRefused(_text(reply[1]), Visit.from_fields(fields) if fields else None)

    async def _call(self, script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"calls of {self._office}: {exc}") from exc


def _pairs_text(fields: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in dict(fields or {}).items()}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
