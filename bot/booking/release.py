"""Fair release: applicants who come in the minutes before a day's quota opens are served first,
in random order, so that a bot firing at the opening second gains nothing over a person.

How it fits the dialog:

1. In the ``prerelease_minutes`` before ``office.release_at(day)`` the day is offered as "opens
   at 07:00: join the pre-queue". Picking it :meth:`FairRelease.join` s the pre-queue, a sorted
   set scored by a random number (the order is drawn when people join, not when they are served,
   so arriving early or often changes nothing), and the applicant waits at step ``book.wait``.
2. At the opening the pre-queue is admitted (:meth:`FairRelease.admit`, one script): in score
   order each account gets a seat held for it, in the first window with a free seat, under the
   account cap, like any hold. It runs once: whichever comes first of the release job and the
   first request for that day after the opening runs it, and every hold of the day waits for it
   (:meth:`FairRelease.admit` is called before them), so the pre-queue is always served before
   first-come-first-served starts.
3. The job (``workers.dayend.announce_release``) tells each admitted applicant; their next
   message (or the *Continue* button) at ``book.wait`` takes them to the NIK step with the seat
   held. After that it is the ordinary booking flow: NIK, name, confirm.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.booking.codes import BookingCodes
from bot.booking.office import Office
from bot.booking.replies import text as _text
from bot.booking.seats import ACCOUNT_MARK, ID_MARK, RETENTION, seat_script
from bot.core.clock import Clock, ms
from bot.errors import StorageError
from bot.infra.keys import OfficeKeys, admitted, prequeue

# Join the pre-queue of a day-service.
#   KEYS[1] pre-queue  KEYS[2] admitted (outcomes; '@done' once admitted)
#   ARGV[1] account  ARGV[2] random score  ARGV[3] now (ms)  ARGV[4] release (ms)
#   ARGV[5] key expiry (ms)
# Returns 'joined' | 'waiting' (already in) | 'open' (too late: the quota is open).
JOIN = """
if redis.call('HEXISTS', KEYS[2], '@done') == 1 or tonumber(ARGV[3]) >= tonumber(ARGV[4]) then
  return 'open'
end
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return 'waiting' end
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 'joined'
"""

# Admit the pre-queue once the quota is open: hold a seat for each account in score order.
#   KEYS[1] pre-queue  KEYS[2] admitted  KEYS[3] day hash  KEYS[4] holds  KEYS[5] closed days
#   ARGV[1] now (ms)  ARGV[2] release (ms)  ARGV[3] day (ISO)  ARGV[4] max active per account
#   ARGV[5] hold expiry (ms)  ARGV[6] key expiry (ms)  ARGV[7] account set template (account
#   marker)  ARGV[8] booking key template (id marker)  ARGV[9] window count n
#   then n x (window, default capacity) in time order, then one fresh hold id per account
# Returns 'early' | 'done' (admitted before) | the number of accounts admitted now.
ADMIT = seat_script(
    """
if tonumber(ARGV[1]) < tonumber(ARGV[2]) then return 'early' end
if redis.call('HEXISTS', KEYS[2], '@done') == 1 then return 'done' end
local n = tonumber(ARGV[9])
local ids_from = 10 + 2 * n
purge(KEYS[3], KEYS[4], ARGV[1])
local closed = redis.call('SISMEMBER', KEYS[5], ARGV[3]) == 1
local admitted = 0
for i, account in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local outcome = 'full'
  local account_key = fill(ARGV[7], ACCOUNT_MARK, account)
  local hold_id = ARGV[ids_from + i - 1]
  if closed then
    outcome = 'full'
  elseif not hold_id then
    outcome = 'retry'
  elseif active_count(account_key, ARGV[8]) >= tonumber(ARGV[4]) then
    outcome = 'limit'
  else
    for w = 0, n - 1 do
      local window = ARGV[10 + 2 * w]
      local cap, booked, held = counts(KEYS[3], window, ARGV[11 + 2 * w])
      if booked + held < cap then
        add_hold(KEYS[4], ARGV[5], window, hold_id, account)
        redis.call('HINCRBY', KEYS[3], 'held:' .. window, 1)
        touch(KEYS[3], KEYS[4])
        outcome = hold_id .. '|' .. window
        admitted = admitted + 1
        break
      end
    end
  end
  redis.call('HSET', KEYS[2], account, outcome)
end
redis.call('HSET', KEYS[2], '@done', ARGV[1])
redis.call('DEL', KEYS[1])
for _, key in ipairs({KEYS[2], KEYS[3], KEYS[4], hold_index(KEYS[4])}) do
  redis.call('PEXPIREAT', key, ARGV[6])
end
return admitted
"""
)


@dataclass(frozen=True, slots=True)
class Admission:
    """Where an account stands for a day-service: waiting, admitted (with its hold), full,
    limit (it already holds its cap of bookings) or absent (never joined)."""

    status: str
    hold_id: str = ""
    window: str = ""


# Admission happens once per day-service and is never undone, so each Redis client remembers
# which ones it has seen admitted: every hold asks, and after the first one the answer is free.
_ADMITTED: weakref.WeakKeyDictionary[aioredis.Redis, set[tuple[str, str, str]]] = (
    weakref.WeakKeyDictionary()
)


class FairRelease:
    def __init__(
        self,
        redis: aioredis.Redis,
        office: Office,
        clock: Clock,
        codes: BookingCodes,
        minutes: int,
    ) -> None:
        self._redis = redis
        self._office = office
        self._clock = clock
        self._codes = codes
        self.minutes = minutes
        self._keys = OfficeKeys(office.id)
        self._join = redis.register_script(JOIN)
        self._admit = redis.register_script(ADMIT)

    def upcoming(self, now: datetime) -> date | None:
        """The day whose quota opens within the pre-release minutes from ``now``, if any."""
        if self.minutes <= 0:
            return None
        opens = self._office.next_release(now)
        if opens is None or opens - now > timedelta(minutes=self.minutes):
            return None
        local = opens.astimezone(self._office.tz)
        day = local.date() + timedelta(days=self._office.booking.days_ahead)
        return day if self._office.release_at(day) == opens else None

    async def join(self, day: date, service: str, account: str) -> str:
        """'joined', 'waiting' (already in the pre-queue) or 'open' (the quota is open now)."""
        iso = day.isoformat()
        score = secrets.randbelow(2**52)
        reply = await self._call(
            self._join,
            [prequeue(self._keys, iso, service), admitted(self._keys, iso, service)],
            [account, score, self._now(), ms(self._office.release_at(day)), self._expiry(day)],
        )
        return _text(reply)

    async def admit(self, day: date, service: str) -> str:
        """Admit the pre-queue if the quota is open and it has not been admitted yet. Returns
        'early', 'done' or the number admitted now."""
        iso = day.isoformat()
        seen = _ADMITTED.setdefault(self._redis, set())
        if (self._office.id, iso, service) in seen:
            return "done"
        keys = [
            prequeue(self._keys, iso, service),
            admitted(self._keys, iso, service),
            self._keys.day(iso, service),
            self._keys.holds(iso, service),
            self._keys.closed,
        ]
        now = self._now()
        if now < ms(self._office.release_at(day)):
            return "early"
        try:
            waiting = int(await self._redis.zcard(keys[0]))
        except RedisError as exc:
            raise StorageError(f"pre-queue: {exc}") from exc
        windows = self._office.windows(day)
        rules = self._office.booking
        args: list[str | int] = [
            now,
            ms(self._office.release_at(day)),
            iso,
            rules.max_active_per_account,
            now + rules.hold_minutes * 60_000,
            self._expiry(day),
            self._keys.account(ACCOUNT_MARK),
            self._keys.booking(ID_MARK),
            len(windows),
        ]
        for window in windows:
            args += [window.id, window.capacity(service)]
        # Ids are drawn here (Lua has no good randomness); a few spare ones cover accounts that
        # joined between the count and the script.
        args += [self._codes.new_id() for _ in range(waiting + 16)]
        outcome = _text(await self._call(self._admit, keys, args))
        seen.add((self._office.id, iso, service))
        return outcome

    async def status(self, day: date, service: str, account: str) -> Admission:
        iso = day.isoformat()
        try:
            outcome = await self._redis.hget(admitted(self._keys, iso, service), account)
            waiting = outcome is None and (
                await self._redis.zscore(prequeue(self._keys, iso, service), account) is not None
            )
        except RedisError as exc:
            raise StorageError(f"pre-queue: {exc}") from exc
        if outcome is None:
            return Admission("waiting" if waiting else "absent")
        text = _text(outcome)
        if "|" in text:
            hold_id, _, window = text.partition("|")
            return Admission("admitted", hold_id, window)
        return Admission(text)

    async def outcomes(self, day: date, service: str) -> dict[str, Admission]:
        """Every account's admission for a day-service (for the job that tells them)."""
        try:
            raw = await self._redis.hgetall(admitted(self._keys, day.isoformat(), service))
        except RedisError as exc:
            raise StorageError(f"pre-queue: {exc}") from exc
        out: dict[str, Admission] = {}
        for key, value in raw.items():
            account, text = _text(key), _text(value)
            if account == "@done":
                continue
            if "|" in text:
                hold_id, _, window = text.partition("|")
                out[account] = Admission("admitted", hold_id, window)
            else:
                out[account] = Admission(text)
        return out

    def _now(self) -> int:
        return ms(self._clock.now())

    @staticmethod
    def _expiry(day: date) -> int:
        return ms(datetime.combine(day, time(), tzinfo=UTC) + RETENTION)

    async def _call(self, script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"pre-queue: {exc}") from exc
