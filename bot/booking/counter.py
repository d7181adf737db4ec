"""At the counter and after it: check-in, closing a day, no-shows, and the rules that follow a
person (by NIK hash) across offices: one active booking, and no-show strikes.

Scripts over a booking run in the office's ``{o:<office>}`` slot, like the seat book's, and reuse
its helpers; scripts over a NIK run in the NIK's ``{nik:<hash>}`` slot
(:class:`bot.infra.keys.NikKeys`). No script touches both slots, so the NIK registry is kept in step
with the seat book in two phases (see :class:`NikRegistry`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from bot.booking.errors import CheckInRefused
from bot.booking.office import Office
from bot.booking.replies import pairs as _pairs
from bot.booking.replies import text as _text
from bot.booking.seats import (
    ACCOUNT_MARK,
    ANNOUNCE_CLOSED,
    DAY_MARK,
    ID_MARK,
    LUA_HELPERS,
    RETENTION,
    SERVICE_MARK,
    Booking,
    SeatBook,
    seat_script,
)
from bot.core.clock import Clock, ms
from bot.errors import StorageError
from bot.infra.keys import AccountKeys, NikKeys, OfficeKeys

# Mark a booking checked in, once, on its own day.
#   KEYS[1] booking
#   ARGV[1] now (ms)  ARGV[2] the office's today (ISO)  ARGV[3] day hash template (day, service
#   markers)  ARGV[4] staff identity  ARGV[5] roster template (day marker)  ARGV[6] waiting
#   template (day marker)
# Returns {'OK', booking fields (flat)} | {'ERR', reason, booking fields (flat)}; reasons:
# not_found, checked_in (already), inactive (cancelled / no-show / called / served), wrong_day.
# A booking checked in joins the day's waiting line that "call next" takes from
# (bot/booking/calls.py), and its roster (where a booking made before rosters already is).
# Two counters scanning the same code at once run this one after the other: the second sees
# status checked_in and is refused, so a code is used exactly once.
CHECKIN = (
    LUA_HELPERS
    + """
local b = booking_map(KEYS[1])
if not b.id then return {'ERR', 'not_found', {}} end
local flat = redis.call('HGETALL', KEYS[1])
if b.status == 'checked_in' then return {'ERR', 'checked_in', flat} end
if b.status ~= 'active' then return {'ERR', 'inactive', flat} end
if b.day ~= ARGV[2] then return {'ERR', 'wrong_day', flat} end
local day_key = fill(fill(ARGV[3], DAY_MARK, b.day), SERVICE_MARK, b.service)
redis.call('HINCRBY', day_key, 'checkin:' .. b.window, 1)
redis.call('HSET', KEYS[1], 'status', 'checked_in', 'checked_in', ARGV[1], 'checked_in_by', ARGV[4])
local order = call_order(b.window, b.number)
local roster = fill(ARGV[5], DAY_MARK, b.day)
local waiting = fill(ARGV[6], DAY_MARK, b.day)
redis.call('ZADD', roster, order, b.id)
redis.call('ZADD', waiting, order, b.id)
local expiry = redis.call('PEXPIRETIME', KEYS[1])
if expiry > 0 then
  redis.call('PEXPIREAT', roster, expiry)
  redis.call('PEXPIREAT', waiting, expiry)
end
mark(roster, b.id, KEYS[1])
return {'OK', redis.call('HGETALL', KEYS[1])}
"""
)

# Cancel an active booking because staff closed its day, flagging it for the closure notice.
#   KEYS[1] booking  KEYS[2] niks (NIK hash -> active booking id)
#   ARGV[1] now (ms)  ARGV[2] the closed day (ISO)  ARGV[3] day hash template
#   ARGV[4] holds template  ARGV[5] account set template  ARGV[6] reason
#   ARGV[7] roster template (day marker)
# Returns {'OK', booking fields (flat)} | {'ERR', reason}. The flag is set in the same script as
# the cancellation so that the notice job, which looks for it, can never miss a cancelled booking.
CLOSE_CANCEL = seat_script(
    """
local b = booking_map(KEYS[1])
if not b.id or b.status ~= 'active' or b.day ~= ARGV[2] then return {'ERR', 'not_active'} end
local day_key = fill(fill(ARGV[3], DAY_MARK, b.day), SERVICE_MARK, b.service)
local holds_key = fill(fill(ARGV[4], DAY_MARK, b.day), SERVICE_MARK, b.service)
purge(day_key, holds_key, ARGV[1])
if redis.call('EXISTS', day_key) == 1 then
  redis.call('HINCRBY', day_key, 'booked:' .. b.window, -1)
  touch(day_key, holds_key)
end
if redis.call('HGET', KEYS[2], b.nik_hash) == b.id then redis.call('HDEL', KEYS[2], b.nik_hash) end
redis.call('SREM', fill(ARGV[5], ACCOUNT_MARK, b.account), b.id)
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'closed', ARGV[6])
mark(fill(ARGV[7], DAY_MARK, b.day), b.id, KEYS[1])
return {'OK', redis.call('HGETALL', KEYS[1])}
"""
)

# Close a day to new bookings and record why, or open it again.
#   KEYS[1] closed days (set)  KEYS[2] closures (hash: day -> JSON of reason, by, at)
#   ARGV[1] the day (ISO)  ARGV[2] the closure's JSON ('' to reopen)
# Returns 1 when the day changed state (closed now / open now), 0 when it already was; a change
# is announced on the seats channel (see bot/booking/seats.py).
CLOSE_DAY = (
    ANNOUNCE_CLOSED
    + """
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return announce_closed(redis.call('SREM', KEYS[1], ARGV[1]))
end
local added = redis.call('SADD', KEYS[1], ARGV[1])
if added == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return announce_closed(added)
"""
)

# Whether a day is closed and why, in one snapshot.
#   KEYS[1] closed days  KEYS[2] closures   ARGV[1] the day (ISO)
# Returns {1 | 0, the closure's JSON or false}.
CLOSURE_OF = """
return {redis.call('SISMEMBER', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1])}
"""

# Set one window's capacity for several services of a day at once, in one snapshot.
#   KEYS[2k-1] day hash of service k  KEYS[2k] holds of service k
#   ARGV[1] now (ms)  ARGV[2] window  ARGV[3] new capacity  ARGV[4] expiry of the day hashes (ms)
#   ARGV[5] '1' for a dry run (a preview: nothing is written but expired holds)
#   ARGV[5+k] default capacity of service k
# Returns, per service, {outcome, capacity before, booked, held, block}: 'set', 'same' (it was
# that already) or 'below' (more seats are booked than the new capacity: that service is
# unchanged); block: the size of the window's range of queue numbers once the day's numbering plan
# is fixed, else 0 (bot/booking/seats.py).
QUOTA = seat_script(
    """
local window, cap = ARGV[2], tonumber(ARGV[3])
local out = {}
for k = 1, #KEYS / 2 do
  local day_key, holds_key = KEYS[2 * k - 1], KEYS[2 * k]
  purge(day_key, holds_key, ARGV[1])
  local before, booked, held = counts(day_key, window, ARGV[5 + k])
  local outcome = 'set'
  if cap < booked then
    outcome = 'below'
  elseif cap == before then
    outcome = 'same'
  elseif ARGV[5] ~= '1' then
    redis.call('HSET', day_key, 'cap:' .. window, cap)
    touch(day_key, holds_key)
    redis.call('PEXPIREAT', day_key, ARGV[4])
  end
  local block = 0
  if redis.call('HEXISTS', day_key, 'seq') == 0 then
    block = tonumber(redis.call('HGET', day_key, 'block:' .. window) or '0')
  end
  table.insert(out, {outcome, before, booked, held, block})
end
return out
"""
)

# Mark a booking of a past day that was never checked in as a no-show (idempotent).
#   KEYS[1] booking  KEYS[2] niks
#   ARGV[1] the day (ISO)  ARGV[2] now (ms)  ARGV[3] day hash template  ARGV[4] account template
#   ARGV[5] roster template (day marker)
# Returns {'marked' | 'no_show' (already) | 'skip', nik hash}.
NO_SHOW = (
    LUA_HELPERS
    + """
local b = booking_map(KEYS[1])
if not b.id or b.day ~= ARGV[1] then return {'skip', ''} end
if b.status == 'no_show' then return {'no_show', b.nik_hash} end
if b.status ~= 'active' then return {'skip', b.nik_hash} end
local day_key = fill(fill(ARGV[3], DAY_MARK, b.day), SERVICE_MARK, b.service)
if redis.call('EXISTS', day_key) == 1 then
  redis.call('HINCRBY', day_key, 'noshow:' .. b.window, 1)
end
if redis.call('HGET', KEYS[2], b.nik_hash) == b.id then redis.call('HDEL', KEYS[2], b.nik_hash) end
redis.call('SREM', fill(ARGV[4], ACCOUNT_MARK, b.account), b.id)
redis.call('HSET', KEYS[1], 'status', 'no_show', 'no_show', ARGV[2])
mark(fill(ARGV[5], DAY_MARK, b.day), b.id, KEYS[1])
return {'marked', b.nik_hash}
"""
)

# Record one no-show of a NIK and block it when it reaches the threshold.
#   KEYS[1] strikes (sorted set: "<office>|<booking id>" scored by the visit's start, ms)
#   KEYS[2] blocked (value: blocked-until ms)
#   ARGV[1] member  ARGV[2] visit start (ms)  ARGV[3] start of the counting window (ms)
#   ARGV[4] threshold (0 = never block)  ARGV[5] blocked until (ms)  ARGV[6] strikes expiry (ms)
# Returns {strikes in the window, blocked until or 0}. Recording the same booking twice changes
# nothing (ZADD of an existing member), so a re-run of the day-end job never extends a block.
STRIKE = """
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
local n = redis.call('ZCOUNT', KEYS[1], ARGV[3], '+inf')
local threshold = tonumber(ARGV[4])
if added == 1 and threshold > 0 and n >= threshold then
  redis.call('SET', KEYS[2], ARGV[5], 'PXAT', ARGV[5])
end
return {n, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""

# Claim a NIK's one active booking across offices, unless the NIK is blocked for no-shows.
#   KEYS[1] the NIK's active-booking entry ("<office>|<booking id>|<claimed at ms>")
#   KEYS[2] the NIK's block (value: blocked-until ms)
#   ARGV[1] our entry  ARGV[2] a stale entry we may replace ('' for none)  ARGV[3] expiry (ms)
#   ARGV[4] now (ms)
# Returns {'OK'} | {'BLOCKED', blocked until (ms)} | {'HELD', current entry}. Claiming again for
# the same booking succeeds (unless blocked meanwhile).
NIK_CLAIM = """
local blocked = redis.call('GET', KEYS[2])
if blocked and (tonumber(blocked) or 0) > tonumber(ARGV[4]) then return {'BLOCKED', blocked} end
local cur = redis.call('GET', KEYS[1])
local function booking_of(entry) return string.match(entry, '^([^|]*|[^|]*)') end
if cur and cur ~= ARGV[2] and booking_of(cur) ~= booking_of(ARGV[1]) then
  return {'HELD', cur}
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
return {'OK'}
"""

# Give up a NIK's claim if it is still the one of this booking.
#   KEYS[1] the NIK's active-booking entry  ARGV[1] "<office>|<booking id>"
NIK_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Claim one of an account's active bookings across offices, up to its cap.
#   KEYS[1] the account's bookings (hash: "<office>|<booking id>" -> claimed at, ms)
#   ARGV[1] our member "<office>|<booking id>"  ARGV[2] now (ms)  ARGV[3] the cap
#   ARGV[4] expiry (ms)  ARGV[5..] stale members to drop first (their bookings are not live)
# Returns {'OK'} | {'FULL', claims (flat: member, claimed at, ...)}. Claiming again for the same
# booking succeeds. Two offices confirming for one account at once run this one after the other:
# with the cap reached, the second is refused.
ACCOUNT_CLAIM = """
for i = 5, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
    return {'FULL', redis.call('HGETALL', KEYS[1])}
  end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
return {'OK'}
"""

# The claim of a booking made before account claims existed (AccountClaims.backfill): taken
# whatever the cap (the booking is there already), never over a claim the account has, and the
# hash kept as long as the booking's day needs it (as ACCOUNT_CLAIM does).
#   KEYS[1] account's claims  ARGV[1] "<office>|<booking id>"  ARGV[2] claimed (ms)
#   ARGV[3] expiry (ms)
# Returns 1 when the claim was added, 0 when the account had it already.
ACCOUNT_BACKFILL = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return added
"""

# A claim whose booking does not exist yet is an applicant between claim and confirm; after this
# long it is a process that died in between, and the claim is void.
PENDING_GRACE = timedelta(minutes=15)


def _expiry_ms(day: date) -> int:
    return ms(datetime.combine(day, time(), tzinfo=UTC) + RETENTION)


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """Why :meth:`NikRegistry.try_claim` refused: the NIK is blocked for no-shows until
    ``blocked_until``, or the live booking (or booking under way) ``holder`` = (office id, booking
    id) holds it; ``holder_account`` is that booking's account once it exists."""

    blocked_until: datetime | None = None
    holder: tuple[str, str] | None = None
    holder_account: str | None = None


@dataclass(frozen=True, slots=True)
class Closure:
    """Why staff closed a day, who did, and when (ms)."""

    reason: str
    by: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class QuotaChange:
    """What a quota change did to one service: ``outcome`` is set, same or below. ``block``:
    how many queue numbers the window's range holds once the day's numbering plan is fixed (0
    before the first booking): seats past it are numbered from the day's overflow range."""

    service: str
    outcome: str
    before: int
    booked: int
    held: int
    block: int = 0

    def overflows(self, capacity: int) -> bool:
        """Whether ``capacity`` seats would take numbers past the window's range."""
        return self.outcome == "set" and 0 < self.block < capacity


@dataclass(frozen=True, slots=True)
class WindowStats:
    service: str
    window: str
    capacity: int
    booked: int
    held: int
    checked_in: int
    no_show: int


class Counter:
    """Check-in, day closing and no-shows over one office's seat book."""

    def __init__(
        self, redis: aioredis.Redis, office: Office, seats: SeatBook, clock: Clock
    ) -> None:
        self._redis = redis
        self._office = office
        self._seats = seats
        self._clock = clock
        self._keys = OfficeKeys(office.id)
        self._checkin = redis.register_script(CHECKIN)
        self._close_cancel = redis.register_script(CLOSE_CANCEL)
        self._no_show = redis.register_script(NO_SHOW)
        self._close_day = redis.register_script(CLOSE_DAY)
        self._closure_of = redis.register_script(CLOSURE_OF)
        self._quota = redis.register_script(QUOTA)
        self._day_template = self._keys.day(DAY_MARK, SERVICE_MARK)
        self._holds_template = self._keys.holds(DAY_MARK, SERVICE_MARK)
        self._account_template = self._keys.account(ACCOUNT_MARK)
        self._booking_template = self._keys.booking(ID_MARK)

    async def check_in(self, booking_id: str, *, staff: str) -> Booking:
        """Mark a booking of the office's today checked in; raises :class:`CheckInRefused`."""
        today = self._office.local_today(self._clock.now())
        reply = await self._call(
            self._checkin,
            [self._keys.booking(booking_id)],
            [
                ms(self._clock.now()),
                today.isoformat(),
                self._day_template,
                staff,
                self._keys.roster(DAY_MARK),
                self._keys.waiting(DAY_MARK),
            ],
        )
        fields = _pairs(reply[1] if _text(reply[0]) == "OK" else reply[2])
        booking = Booking.from_fields(fields) if fields else None
        if _text(reply[0]) != "OK":
            raise CheckInRefused(_text(reply[1]), booking)
        assert booking is not None
        return booking

    async def close_day(self, day: date, reason: str, by: str) -> bool:
        """Close ``day`` to new bookings, recording why; False if it was closed already."""
        record = json.dumps({"reason": reason, "by": by, "at": ms(self._clock.now())})
        return bool(
            await self._call(self._close_day, self._closure_keys, [day.isoformat(), record])
        )

    async def reopen_day(self, day: date) -> bool:
        """Open a day staff closed; False if it was not closed."""
        return bool(await self._call(self._close_day, self._closure_keys, [day.isoformat(), ""]))

    async def closure(self, day: date) -> Closure | None:
        """Why staff closed ``day``, or None when they did not."""
        closed, raw = await self._call(self._closure_of, self._closure_keys, [day.isoformat()])
        if not closed:
            return None
        # A day closed by SeatBook.close_day (tests, older versions) has no recorded reason.
        doc = json.loads(_text(raw)) if raw else {}
        return Closure(str(doc.get("reason", "")), str(doc.get("by", "")), int(doc.get("at", 0)))

    @property
    def _closure_keys(self) -> list[str]:
        return [self._keys.closed, self._keys.closures]

    async def set_quota(
        self,
        day: date,
        window: str,
        capacity: int,
        services: Sequence[str],
        *,
        dry_run: bool = False,
    ) -> list[QuotaChange]:
        """Set ``window``'s capacity for each of ``services`` in one script; a service with more
        seats booked than ``capacity`` is left as it was (outcome ``below``). ``dry_run`` says
        what it would do and changes nothing."""
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        iso = day.isoformat()
        office_window = self._office.window(day, window)
        keys: list[str] = []
        defaults: list[str | int] = []
        for service in services:
            keys += [self._keys.day(iso, service), self._keys.holds(iso, service)]
            defaults.append(office_window.capacity(service) if office_window else 0)
        reply = await self._call(
            self._quota,
            keys,
            [
                ms(self._clock.now()),
                window,
                capacity,
                _expiry_ms(day),
                "1" if dry_run else "0",
                *defaults,
            ],
        )
        return [
            QuotaChange(service, _text(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
            for service, row in zip(services, reply, strict=True)
        ]

    async def cancel_for_closure(self, booking_id: str, day: date, reason: str) -> Booking | None:
        """Cancel one booking of a day staff closed; None if it was not active on that day."""
        reply = await self._call(
            self._close_cancel,
            [self._keys.booking(booking_id), self._keys.niks],
            [
                ms(self._clock.now()),
                day.isoformat(),
                self._day_template,
                self._holds_template,
                self._account_template,
                reason or "-",
                self._keys.roster(DAY_MARK),
            ],
        )
        if _text(reply[0]) != "OK":
            return None
        return Booking.from_fields(_pairs(reply[1]))

    async def mark_no_show(self, booking_id: str, day: date) -> tuple[str, str]:
        """(outcome, nik hash): outcome is marked, no_show (earlier) or skip."""
        reply = await self._call(
            self._no_show,
            [self._keys.booking(booking_id), self._keys.niks],
            [
                day.isoformat(),
                ms(self._clock.now()),
                self._day_template,
                self._account_template,
                self._keys.roster(DAY_MARK),
            ],
        )
        return _text(reply[0]), _text(reply[1])

    async def bookings_of(self, day: date) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """(id, fields) of every booking of ``day`` in any status.

        The seat book keeps no index by day (a reschedule would have to move it), so this scans
        the office's booking keys: fine for rare staff and day-end work, never for a user's turn.
        """
        iso = day.isoformat()
        pattern = self._keys.booking("*")
        try:
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                fields = await self._redis.hgetall(key)
                text = {_text(k): _text(v) for k, v in fields.items()}
                if text.get("day") == iso and "id" in text:
                    yield text["id"], text
        except RedisError as exc:
            raise StorageError(f"bookings of {iso}: {exc}") from exc

    async def stats(self, day: date) -> list[WindowStats]:
        """Seats of every window and service of ``day``."""
        windows = self._office.windows(day)
        services = self._office.services
        requests = [(day, s.id, {w.id: w.capacity(s.id) for w in windows}) for s in services]
        seats = await self._seats.availability(requests)
        out: list[WindowStats] = []
        for service, per_window in zip(services, seats, strict=True):
            fields = [f"{kind}:{w.id}" for w in windows for kind in ("checkin", "noshow")]
            try:
                raw = (
                    await self._redis.hmget(self._keys.day(day.isoformat(), service.id), fields)
                    if fields
                    else []
                )
            except RedisError as exc:
                raise StorageError(f"stats of {day}: {exc}") from exc
            for i, window in enumerate(windows):
                a = per_window[window.id]
                out.append(
                    WindowStats(
                        service.id,
                        window.id,
                        a.capacity,
                        a.booked,
                        a.held,
                        int(raw[2 * i] or 0),
                        int(raw[2 * i + 1] or 0),
                    )
                )
        return out

    async def _call(self, script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"counter of {self._office.id}: {exc}") from exc


@dataclass
class NikRegistry:
    """One active booking per NIK across every office, and no-show strikes per NIK.

    The office's seat book already allows one active booking per NIK *within* the office (in its
    confirm script). Across offices the NIK needs a key of its own, in its own slot, which no seat
    book script can touch; so booking is two-phase:

    1. :meth:`claim` the NIK for the booking id (= the hold id) before confirming;
    2. confirm in the seat book; if that fails, :meth:`release` the claim.

    Cancelling, checking in, a no-show or a closed day also release it. A release that never
    happens (a crash, or a cancel path that does not call it) cannot lock a person out: a claim
    found in the way is checked against its booking, and is replaced when that booking is no
    longer active, or still does not exist :data:`PENDING_GRACE` after the claim.
    """

    redis: aioredis.Redis
    clock: Clock
    _scripts: dict[str, Any] = field(default_factory=dict)

    def _script(self, name: str, body: str) -> Any:
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(body)
        return self._scripts[name]

    async def claim(self, nik_hash: str, office_id: str, booking_id: str, day: date) -> bool:
        """Claim the NIK for this booking; False when it is blocked or another live booking
        holds it."""
        return await self.try_claim(nik_hash, office_id, booking_id, day) is None

    def claim_call(
        self, nik_hash: str, office_id: str, booking_id: str, day: date, now: int
    ) -> tuple[str, list[str], list[str | int]]:
        """The first claim of :meth:`try_claim` as (script, keys, args), to pipeline it with
        another slot's script (:func:`claim_together`)."""
        keys = NikKeys(nik_hash)
        args: list[str | int] = [f"{office_id}|{booking_id}|{now}", "", _expiry_ms(day), now]
        return NIK_CLAIM, [keys.active, keys.blocked], args

    async def try_claim(
        self,
        nik_hash: str,
        office_id: str,
        booking_id: str,
        day: date,
        *,
        first: Any = None,
        now: int | None = None,
    ) -> ClaimRefused | None:
        """Claim the NIK for this booking, or say why not (:class:`ClaimRefused`): blocked for
        no-shows, or held by another live booking. One round trip when the claim is taken (the
        block is checked in the same script); a refusal reads the holder's booking too.
        ``first``: the reply of the first claim already made (:func:`claim_together`), at
        ``now``."""
        now = ms(self.clock.now()) if now is None else now
        ours = f"{office_id}|{booking_id}|{now}"
        keys = NikKeys(nik_hash)
        stale = ""
        refusal = ClaimRefused()
        for _ in range(2):
            if first is not None:
                reply, first = first, None
            else:
                reply = await self._run(
                    "claim",
                    NIK_CLAIM,
                    [keys.active, keys.blocked],
                    [ours, stale, _expiry_ms(day), now],
                )
            status = _text(reply[0])
            if status == "OK":
                return None
            if status == "BLOCKED":
                until = datetime.fromtimestamp(int(_text(reply[1])) / 1000, tz=UTC)
                return ClaimRefused(blocked_until=until)
            current = _text(reply[1])
            live, account = await self._booking_of(current, now)
            holder_office, _, rest = current.partition("|")
            refusal = ClaimRefused(
                holder=(holder_office, rest.partition("|")[0]), holder_account=account
            )
            if live:
                return refusal
            stale = current
        return refusal

    async def holder(self, nik_hash: str) -> tuple[str, str] | None:
        """The office id and booking id of the live booking (or booking under way) that holds
        the NIK, or None: what :meth:`claim` would refuse it for (the claim itself says so, in
        its own round trip: :meth:`try_claim`)."""
        try:
            entry = await self.redis.get(NikKeys(nik_hash).active)
        except RedisError as exc:
            raise StorageError(f"NIK registry: {exc}") from exc
        if entry is None or await self._is_stale(_text(entry), ms(self.clock.now())):
            return None
        office_id, _, rest = _text(entry).partition("|")
        return office_id, rest.partition("|")[0]

    async def release(self, nik_hash: str, office_id: str, booking_id: str) -> None:
        await self._run(
            "release", NIK_RELEASE, [NikKeys(nik_hash).active], [f"{office_id}|{booking_id}"]
        )

    async def _is_stale(self, entry: str, now: int) -> bool:
        live, _ = await self._booking_of(entry, now)
        return not live

    async def _booking_of(self, entry: str, now: int) -> tuple[bool, str | None]:
        """Whether the claim ``entry`` is live (its booking is active, or does not exist yet
        within :data:`PENDING_GRACE`), and the booking's account once it exists."""
        office_id, _, rest = entry.partition("|")
        booking_id, _, claimed = rest.partition("|")
        return await _live(self.redis, office_id, booking_id, claimed, now, "NIK registry")

    async def strike(
        self,
        nik_hash: str,
        member: str,
        visit: datetime,
        *,
        threshold: int,
        window_days: int,
        block_days: int,
    ) -> tuple[int, int]:
        """Record a no-show; returns (strikes in the window, blocked until ms or 0)."""
        keys = NikKeys(nik_hash)
        now = self.clock.now()
        reply = await self._run(
            "strike",
            STRIKE,
            [keys.strikes, keys.blocked],
            [
                member,
                ms(visit),
                ms(visit - timedelta(days=window_days)),
                threshold,
                ms(now + timedelta(days=block_days)),
                ms(now + timedelta(days=window_days + block_days)),
            ],
        )
        return int(reply[0]), int(reply[1])

    async def blocked_until(self, nik_hash: str) -> datetime | None:
        """When a NIK blocked for no-shows may book again, or None if it is not blocked."""
        try:
            raw = await self.redis.get(NikKeys(nik_hash).blocked)
        except RedisError as exc:
            raise StorageError(f"NIK registry: {exc}") from exc
        return self._until(raw)

    def _until(self, raw: str | bytes | None) -> datetime | None:
        if raw is None:
            return None
        until = datetime.fromtimestamp(int(_text(raw)) / 1000, tz=UTC)
        return until if until > self.clock.now() else None

    async def _run(self, name: str, body: str, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._script(name, body)(keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"NIK registry: {exc}") from exc


async def _live(
    redis: aioredis.Redis, office_id: str, booking_id: str, claimed: str, now: int, what: str
) -> tuple[bool, str | None]:
    """Whether a claim of the booking ``booking_id`` of ``office_id``, taken at ``claimed`` (ms,
    as text), is live: its booking is active, or does not exist yet within
    :data:`PENDING_GRACE`; and the booking's account once it exists."""
    try:
        status, account = await redis.hmget(
            OfficeKeys(office_id).booking(booking_id), ["status", "account"]
        )
    except RedisError as exc:
        raise StorageError(f"{what}: {exc}") from exc
    if status is not None:
        return _text(status) == "active", _text(account) if account is not None else None
    grace = PENDING_GRACE.total_seconds() * 1000
    return claimed.isdigit() and now - int(claimed) <= grace, None


@dataclass
class AccountClaims:
    """The per-account cap on active bookings across every office of a network.

    The seat book counts an account's active bookings per office (its account set, in the
    office's slot); across offices the account needs a key of its own, in its own slot
    (:class:`bot.infra.keys.AccountKeys`), which no seat script can touch. So, as for the NIK
    (:class:`NikRegistry`), booking is two-phase: :meth:`try_claim` a place under the cap for
    the booking id before confirming; release it when the seat book refuses, and when the
    booking stops being active (cancelled, checked in, a no-show, a closed day). A claim whose
    release never happened is found stale (its booking not active, or missing past
    :data:`PENDING_GRACE`) when it stands in the way, and dropped.

    In a network of one office the seat book's own count is the whole network's: the desk
    takes no claim there (no round trip added).
    """

    redis: aioredis.Redis
    clock: Clock
    _scripts: dict[str, Any] = field(default_factory=dict)

    def claim_call(
        self, account: str, office_id: str, booking_id: str, day: date, cap: int, now: int
    ) -> tuple[str, list[str], list[str | int]]:
        """The first claim of :meth:`try_claim` as (script, keys, args)."""
        keys = [AccountKeys(account).bookings]
        return ACCOUNT_CLAIM, keys, [f"{office_id}|{booking_id}", now, cap, _expiry_ms(day)]

    async def try_claim(
        self,
        account: str,
        office_id: str,
        booking_id: str,
        day: date,
        cap: int,
        *,
        first: Any = None,
        now: int | None = None,
    ) -> list[tuple[str, str]] | None:
        """Claim a place under ``cap`` for this booking; None when taken, else the (office id,
        booking id) of the live claims that fill the cap. ``first``: the reply of the first
        claim already made (:func:`claim_together`), at ``now``."""
        now = ms(self.clock.now()) if now is None else now
        script, keys, args = self.claim_call(account, office_id, booking_id, day, cap, now)
        holders: list[tuple[str, str]] = []
        for _ in range(2):
            reply = first if first is not None else await self._run(script, keys, args)
            first = None
            if _text(reply[0]) == "OK":
                return None
            claims = _pairs(reply[1])
            stale: list[str] = []
            holders = []
            for member, claimed in claims.items():
                holder_office, _, holder_id = member.partition("|")
                live, _ = await _live(
                    self.redis, holder_office, holder_id, claimed, now, "account claims"
                )
                if live:
                    holders.append((holder_office, holder_id))
                else:
                    stale.append(member)
            if not stale:
                return holders
            args = [*args[:4], *stale]
        return holders

    async def backfill(self, office_id: str, seats: SeatBook) -> int | None:
        """Give every active booking of the office its account's claim, once: the bookings made
        before account claims existed count under the cap across the network like the others.
        Idempotent (a claim there is kept as it is; a second run after the marker is set reads
        nothing). One script call in the office's slot, one pipeline of one call per booking in
        the accounts' slots, then the marker. How many claims were added; None when it was done
        already."""
        bookings = await seats.unclaimed_bookings()
        if bookings is None:
            return None
        calls: list[tuple[str, list[str], list[str | int]]] = [
            (
                ACCOUNT_BACKFILL,
                [AccountKeys(account).bookings],
                [f"{office_id}|{booking_id}", created, _expiry_ms(day)],
            )
            for account, booking_id, day, created in bookings
        ]
        added = sum(int(reply) for reply in await claim_together(self.redis, calls))
        await seats.mark_claims_backfilled()
        return added

    async def release(self, account: str, office_id: str, booking_id: str) -> None:
        """Give the booking's place under the cap back (nothing if it holds none)."""
        try:
            await self.redis.hdel(AccountKeys(account).bookings, f"{office_id}|{booking_id}")
        except RedisError as exc:
            raise StorageError(f"account claims: {exc}") from exc

    async def holders(self, account: str) -> list[tuple[str, str]]:
        """(office id, booking id) of every claim of the account, oldest first, in one round
        trip: where its active bookings are, without a scan of offices (a claim may be stale:
        the caller reads the booking)."""
        try:
            raw = await self.redis.hgetall(AccountKeys(account).bookings)
        except RedisError as exc:
            raise StorageError(f"account claims: {exc}") from exc
        claims = sorted(
            ((int(_text(at) or 0), _text(member)) for member, at in raw.items()),
        )
        return [(m.partition("|")[0], m.partition("|")[2]) for _, m in claims]

    async def _run(self, body: str, keys: list[str], args: list[str | int]) -> Any:
        if body not in self._scripts:
            self._scripts[body] = self.redis.register_script(body)
        try:
            return await self._scripts[body](keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"account claims: {exc}") from exc


async def claim_together(
    redis: aioredis.Redis, calls: Sequence[tuple[str, list[str], list[str | int]]]
) -> list[Any]:
    """Run the first claims of several slots' scripts (``claim_call``) in one pipeline: one
    round trip for the NIK's claim and the account's. A server that does not know a script yet
    (fresh or flushed) gets it loaded and the call made again, on its own."""
    pipe = redis.pipeline(transaction=False)
    for body, keys, args in calls:
        pipe.execute_command("EVALSHA", _sha(body), len(keys), *keys, *args)
    try:
        replies = list(await pipe.execute(raise_on_error=False))
    except RedisError as exc:
        raise StorageError(f"claims: {exc}") from exc
    for i, (reply, (body, keys, args)) in enumerate(zip(replies, calls, strict=True)):
        if isinstance(reply, NoScriptError):
            try:
                replies[i] = await redis.eval(body, len(keys), *keys, *args)
            except RedisError as exc:
                raise StorageError(f"claims: {exc}") from exc
        elif isinstance(reply, Exception):
            raise StorageError(f"claims: {reply}")
    return replies


_SHAS: dict[str, str] = {}


def _sha(body: str) -> str:
    if body not in _SHAS:
        _SHAS[body] = hashlib.sha1(body.encode()).hexdigest()  # Redis names a script by it
    return _SHAS[body]
