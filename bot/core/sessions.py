"""Conversation state in Redis, at two round trips per turn.

A turn is ``begin`` (one script: drop a redelivered message, take the user's lease or queue the
message behind the holder, load the session, say whether the user's outbox holds replies) and
``finish`` (one script: save the session, then either hand the holder the next queued message or
release the lease).

Why a lease with an inbox instead of a lock that waits: two messages of one user must be handled one
after the other, also across processes. Rather than have the second one poll for the lock, it is
appended to the user's inbox and the process that holds the lease handles it next, in arrival
order. If the holder dies, its lease expires (by the injected clock) and the next message of the
user that arrives, new or redelivered, takes over: it re-runs the message that was in flight, then
the inbox, in order. Nothing is lost, and the lease counts how often its message was started, so
that a message that kills every process that runs it is given up after a few attempts.

While a lease is live, a message seen before is answered "busy" (the platform delivers it again
later), not "duplicate": it may be the request whose process died, and its redelivery after the
lease has expired is what triggers the takeover.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core import fastjson
from bot.core.i18n import LOCALES
from bot.core.messages import Inbound
from bot.core.pacing import TAKE_FUNCTION, forced_count
from bot.core.writes import Arg, Write, settle
from bot.errors import SessionLost, StorageError
from bot.infra.keys import SessionKeys, hash_tag

SCHEMA_VERSION = 1
# How long the id of a message dropped by the rate limit is remembered: it was answered 200, so
# only a lost answer makes the platform deliver it again, at once.
DROPPED_REMEMBER_MS = 10 * 60 * 1000

# Entries of the lease and the inbox are "<bytes of the message id>:<message id><payload JSON>":
# the id is read back by its length, so nothing in it (a tab, a "|") can break the encoding.
# Lua helpers shared by both scripts.
_ENTRIES = """
local function entry_id(e)
  local n, at = string.match(e, '^(%d+):()')
  if not n then return nil end
  return string.sub(e, at, at + tonumber(n) - 1)
end
-- Lease value: "<token>|<expires ms>|<attempts>|<entry>", attempts = how often the entry was
-- started (a takeover starts it again).
local function parse_lease(lease)
  local p1 = string.find(lease, '|', 1, true)
  local p2 = p1 and string.find(lease, '|', p1 + 1, true)
  local p3 = p2 and string.find(lease, '|', p2 + 1, true)
  if not p3 then return 0, nil, 0 end
  return tonumber(string.sub(lease, p1 + 1, p2 - 1)) or 0, string.sub(lease, p3 + 1),
         tonumber(string.sub(lease, p2 + 1, p3 - 1)) or 0
end
"""

# Take the user's lease, or queue the message behind whoever holds it.
#   KEYS[1] session  KEYS[2] lease  KEYS[3] inbox
#   KEYS[4] seen (zset: message id -> when it may be forgotten, ms)
#   KEYS[5] rate (hash: tat = when the account's bucket is full again, quiet = silenced until; ms)
#   KEYS[6] outbox (list: replies of earlier turns not sent yet, bot/core/outbox.py; only read)
#   ARGV[1] message id   ARGV[2] our lease token   ARGV[3] the message's entry
#   ARGV[4] now (ms)     ARGV[5] lease length (ms) ARGV[6] TTL of the lease and inbox keys (ms)
#   ARGV[7] ms per message at the sustained rate (0: no limit)   ARGV[8] burst (messages)
#   ARGV[9] how long an accepted message id is remembered (ms)
#   ARGV[10] how long the id of a message dropped by the limit is remembered (ms)
# Returns {"duplicate"} | {"busy"} | {"queued"}
#   | {"run", session or false, entry, attempts, ms to wait or 0, outbox length}: we hold the
#     lease; with a wait, this message was over the limit (send the notice) but a dead holder's
#     messages still run; with an outbox length > 0, the turn's replies go behind the outbox
#   | {"limited", session or false, ms to wait} for the first message over the limit
#   | {"silenced"} for the next ones (dropped until the bucket is full again).
BEGIN = (
    _ENTRIES
    + """
local msgid, token, entry = ARGV[1], ARGV[2], ARGV[3]
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[6])

-- The set lives as long as the longest memory: no id in it is remembered for longer.
local longest = math.max(tonumber(ARGV[9]), tonumber(ARGV[10]))
local function remember(id, ms)
  redis.call('ZADD', KEYS[4], now + ms, id)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  redis.call('PEXPIRE', KEYS[4], longest)
end

local live, inflight, attempts = false, nil, 0
local lease = redis.call('GET', KEYS[2])
if lease then
  local expires
  expires, inflight, attempts = parse_lease(lease)
  live = expires > now
end
local inflight_id = inflight and entry_id(inflight)
if live and inflight_id == msgid then return {'busy'} end
local forget = redis.call('ZSCORE', KEYS[4], msgid)
local seen = (forget and tonumber(forget) > now) or inflight_id == msgid
if seen and live then return {'busy'} end

-- The rate limit, a token bucket (GCRA): `burst` messages at once, then one per `interval`.
-- wait > 0: the first message over it (it gets a notice); wait < 0: silenced.
local wait, interval = 0, tonumber(ARGV[7])
if not seen and interval > 0 then
  local r = redis.call('HMGET', KEYS[5], 'tat', 'quiet')
  local tat, quiet = math.max(tonumber(r[1]) or now, now), tonumber(r[2]) or 0
  if quiet > now then
    wait = -1
  elseif tat + interval - now > interval * tonumber(ARGV[8]) then
    -- Silence until the bucket is full again: a script is cut off for good, once told.
    wait, quiet = tat - now, tat
    redis.call('HSET', KEYS[5], 'quiet', quiet)
  else
    tat = tat + interval
    redis.call('HSET', KEYS[5], 'tat', tat)
  end
  redis.call('PEXPIRE', KEYS[5], math.max(tat, quiet) - now + 1000)
  if wait ~= 0 then remember(msgid, tonumber(ARGV[10])) end
end

if live then
  if wait > 0 then return {'limited', redis.call('GET', KEYS[1]), wait} end
  if wait < 0 then return {'silenced'} end
  redis.call('RPUSH', KEYS[3], entry)
  redis.call('PEXPIRE', KEYS[3], ttl)
  remember(msgid, tonumber(ARGV[9]))
  return {'queued'}
end

-- Nobody holds the lease, or its holder died: we take it. A dead holder's message runs again
-- first, then the inbox, then this message.
local run, tries, inbox = inflight, attempts + 1, true
if not seen and wait == 0 then
  remember(msgid, tonumber(ARGV[9]))
  if run or redis.call('LLEN', KEYS[3]) > 0 then
    redis.call('RPUSH', KEYS[3], entry)
  else
    run, inbox = entry, false
  end
end
if not run then
  run, tries = redis.call('LPOP', KEYS[3]), 1
end
if not run then
  if wait > 0 then return {'limited', redis.call('GET', KEYS[1]), wait} end
  if wait < 0 then return {'silenced'} end
  return {'duplicate'}
end
-- (An empty inbox is no key: nothing to keep.)
if inbox then redis.call('PEXPIRE', KEYS[3], ttl) end
redis.call('SET', KEYS[2], token .. '|' .. (now + tonumber(ARGV[5])) .. '|' .. tries .. '|' .. run,
           'PX', ttl)
return {'run', redis.call('GET', KEYS[1]), run, tries, math.max(wait, 0),
        redis.call('LLEN', KEYS[6])}
"""
)

# Save the session, and pass on to the next queued message or release the lease. First, the
# turn's replies are counted in the user's own pacing buckets (they are out, lease or not).
#   KEYS[1] session  KEYS[2] lease  KEYS[3] inbox  KEYS[4...] pacing buckets in the user's slot
#   ARGV[1] our lease token  ARGV[2] session JSON  ARGV[3] now (ms)  ARGV[4] lease length (ms)
#   ARGV[5] TTL of the lease and inbox keys (ms)  ARGV[6] session TTL (s)
#   ARGV[7...] for each bucket, 4 values: now (ms), interval (ms), burst, messages to count
# Returns {"lost"} | {"done"} | {"next", entry}.
FINISH = (
    TAKE_FUNCTION
    + """
for i = 4, #KEYS do
  local a = 7 + (i - 4) * 4
  take(KEYS[i], tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), true,
       tonumber(ARGV[a + 3]))
end
local token, now = ARGV[1], tonumber(ARGV[3])
local lease = redis.call('GET', KEYS[2])
if not lease or string.sub(lease, 1, string.len(token) + 1) ~= token .. '|' then
  return {'lost'}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[6])
local entry = redis.call('LPOP', KEYS[3])
if entry then
  redis.call('SET', KEYS[2], token .. '|' .. (now + tonumber(ARGV[4])) .. '|1|' .. entry,
             'PX', ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  return {'next', entry}
end
redis.call('DEL', KEYS[2])
return {'done'}
"""
)


@dataclass(slots=True)
class Session:
    """What the bot remembers of one user. Kept small: it is read and written every turn."""

    identity: str
    locale: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Options on offer at the current step as (id, title): typed numbers and titles are matched
    # against them, and a tapped button that is not among them is stale.
    offered: list[tuple[str, str]] = field(default_factory=list)
    touched_ms: int = 0
    # What a bot notes about the user beyond one conversation: unlike ``data``, it survives a
    # reset to the menu and an idle restart (like the language). Saved with the session, so a
    # turn writes it at no cost and the next turn's ``begin`` reads it back; keep it tiny. A memo
    # is a hint for skipping work, never the truth: it may be stale or lost (a session that
    # expires for good, or is from an incompatible version), and a bot must stay correct then.
    memo: dict[str, Any] = field(default_factory=dict)
    # True when the stored session was missing, expired or from an incompatible version.
    fresh: bool = True
    restarted: Literal["", "expired", "upgraded"] = ""

    def dumps(self) -> str:
        doc: dict[str, Any] = {"v": SCHEMA_VERSION, "t": self.touched_ms}
        if self.locale:
            doc["l"] = self.locale
        if self.step:
            doc["s"] = self.step
        if self.data:
            doc["d"] = self.data
        if self.offered:
            doc["o"] = self.offered
        if self.memo:
            doc["m"] = self.memo
        return fastjson.dumps(doc)

    @classmethod
    def loads(cls, identity: str, raw: str | None, *, now_ms: int, idle_ms: int) -> Session:
        """Rebuild a session; anything unreadable or stale restarts it, keeping the language
        (and, when it only went idle, the memo)."""
        if not raw:
            return cls(identity, touched_ms=now_ms)
        try:
            doc = fastjson.loads(raw)
            locale = doc.get("l") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or doc.get("v") != SCHEMA_VERSION:
                return cls(
                    identity,
                    locale=locale if locale in LOCALES else None,
                    touched_ms=now_ms,
                    restarted="upgraded",
                )
            memo = doc.get("m", {})
            memo = dict(memo) if isinstance(memo, dict) else {}
            if now_ms - int(doc["t"]) > idle_ms:
                return cls(
                    identity, locale=locale, memo=memo, touched_ms=now_ms, restarted="expired"
                )
            offered = [(str(i), str(t)) for i, t in doc.get("o", [])]
            return cls(
                identity,
                locale=locale,
                step=doc.get("s"),
                data=dict(doc.get("d", {})),
                offered=offered,
                memo=memo,
                touched_ms=int(doc["t"]),
                fresh=False,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(identity, touched_ms=now_ms, restarted="upgraded")


@dataclass(frozen=True, slots=True)
class InFlight:
    """The message the lease holder must handle now, and how often it was started (1 the first
    time; a takeover after a dead holder starts it again)."""

    # None when the stored entry could not be read back: it is answered, never run.
    inbound: Inbound | None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Turn:
    """The outcome of :meth:`SessionStore.begin`."""

    status: Literal["run", "queued", "duplicate", "busy", "limited", "silenced"]
    token: str = ""
    raw_session: str | None = None
    # With "run": the first message to handle (not necessarily the one that arrived).
    in_flight: InFlight | None = None
    # With "limited", or "run" when the arriving message was over the limit: how long until the
    # user may write again (the one cooldown notice says so).
    retry_after_ms: int = 0
    # With "run": the user's outbox held replies of earlier turns when the lease was taken
    # (bot/core/outbox.py); this turn's replies must go behind them. Only the lease holder puts
    # entries there (a sender only removes them): an outbox empty here stays empty until then.
    outbox_pending: bool = False

    @property
    def inbound(self) -> Inbound | None:
        """With "run": the first message to handle, if it could be read."""
        return self.in_flight.inbound if self.in_flight is not None else None


def entry(inbound: Inbound) -> str:
    """How a message is kept in the lease and the inbox (see the scripts)."""
    return f"{len(inbound.message_id.encode())}:{inbound.message_id}{inbound.dumps()}"


def read_entry(raw: str) -> Inbound | None:
    """The message of an entry; None when it cannot be read (written by an older version, or
    damaged): the engine then answers the user instead of failing on it for ever."""
    size, sep, rest = raw.partition(":")
    if not sep or not size.isascii() or not size.isdigit():
        return None
    try:
        return Inbound.loads(rest.encode()[int(size) :])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _text(value: bytes | str | int | None) -> str | None:
    # Lua false (a missing key) arrives as None; nothing else is falsy here.
    if value is None or isinstance(value, int):
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class SessionStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        lease_ms: int = 30_000,
        session_ttl_s: int = 90 * 24 * 3600,
        remember_ms: int = 7 * 24 * 3600 * 1000,
        rate_limit: int = 0,
        rate_burst: int = 15,
    ) -> None:
        if lease_ms <= 0:
            raise ValueError("lease_ms must be positive")
        if rate_limit < 0 or rate_burst < 1:
            raise ValueError("rate_limit must be 0 (no limit) or more, rate_burst at least 1")
        self.redis = redis
        self.lease_ms = lease_ms
        # The lease and inbox keys outlive the lease so that a dead holder's messages can be
        # recovered, but not for long: they carry message text, which may be a NIK being typed.
        self.lease_key_ms = max(lease_ms * 20, 600_000)
        self.session_ttl_s = session_ttl_s
        # How long a message id is remembered by default (the longest a platform redelivers).
        self.remember_ms = remember_ms
        # rate_limit messages a minute on average, rate_burst at once (a token bucket).
        self.rate_interval_ms = max(1, round(60_000 / rate_limit)) if rate_limit else 0
        self.rate_burst = rate_burst
        self._begin = redis.register_script(BEGIN)
        self._finish = redis.register_script(FINISH)

    async def begin(self, inbound: Inbound, now_ms: int, *, remember_ms: int = 0) -> Turn:
        """Take the user's lease for ``inbound`` (or queue it, or drop it). ``remember_ms``: how
        long the platform may deliver this message again (default: the store's)."""
        keys = SessionKeys(inbound.identity)
        token = secrets.token_hex(8)
        reply = await self._run(
            self._begin,
            [keys.session, keys.lease, keys.inbox, keys.seen, keys.rate, keys.outbox],
            [
                inbound.message_id,
                token,
                entry(inbound),
                now_ms,
                self.lease_ms,
                self.lease_key_ms,
                self.rate_interval_ms,
                self.rate_burst,
                remember_ms or self.remember_ms,
                DROPPED_REMEMBER_MS,
            ],
        )
        status = _text(reply[0])
        if status == "run":
            in_flight = InFlight(read_entry(_text(reply[2]) or ""), int(reply[3]))
            pending = int(reply[5]) > 0
            return Turn("run", token, _text(reply[1]), in_flight, int(reply[4]), pending)
        if status == "limited":
            return Turn("limited", raw_session=_text(reply[1]), retry_after_ms=int(reply[2]))
        if status in ("queued", "duplicate", "busy", "silenced"):
            return Turn(status)  # type: ignore[arg-type]
        raise StorageError(f"unexpected session script reply {status!r}")

    async def finish(
        self,
        identity: str,
        token: str,
        session: Session,
        now_ms: int,
        writes: Sequence[Write] = (),
    ) -> InFlight | None:
        """Save and pass on. Returns the next queued message of this user (we still hold the
        lease and must handle it), or None once the lease is released.

        ``writes`` (bot/core/writes.py) go in the same round trip, after the save; the counts
        of the user's own pacing buckets are taken by the save's script itself (one script call
        fewer a turn)."""
        keys = SessionKeys(identity)
        session.touched_ms = now_ms
        args: list[Arg] = [
            token,
            session.dumps(),
            now_ms,
            self.lease_ms,
            self.lease_key_ms,
            self.session_ttl_s,
        ]
        script_keys = [keys.session, keys.lease, keys.inbox]
        own_slot = hash_tag(keys.session)
        rest: list[Write] = []
        for write in writes:
            counted = forced_count(write)
            if counted is not None and hash_tag(counted[0]) == own_slot:
                script_keys.append(counted[0])
                args.extend(counted[1])
            else:
                rest.append(write)
        writes = rest
        if writes:
            reply = await self._finish_with(script_keys, args, writes)
        else:
            reply = await self._run(self._finish, script_keys, args)
        status = _text(reply[0])
        if status == "lost":
            raise SessionLost(f"lease on {identity} expired before the turn finished")
        if status == "next":
            return InFlight(read_entry(_text(reply[1]) or ""))
        return None

    async def _finish_with(self, keys: list[str], args: list[Arg], writes: Sequence[Write]) -> Any:
        """The finish script and ``writes`` in one pipeline. A write that fails is logged and
        dropped: it must not undo a turn whose replies are already out."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command("EVALSHA", self._finish.sha, len(keys), *keys, *args)
        for write in writes:
            pipe.execute_command(*write.args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StorageError(f"Redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StorageError(f"session script failed: {exc}") from exc
        reply, outcomes = results[0], results[1:]
        if isinstance(reply, NoScriptError):
            # A fresh (or flushed) server: the Script object loads it and runs it again.
            reply = await self._run(self._finish, keys, args)
        elif isinstance(reply, Exception):
            raise StorageError(f"session script failed: {reply}")
        await settle(self.redis, writes, outcomes)
        return reply

    @staticmethod
    async def _run(script: AsyncScript, keys: list[str], args: Sequence[Arg]) -> Any:
        """One script call, with redis-py's failures turned into our StorageError."""
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StorageError(f"Redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StorageError(f"session script failed: {exc}") from exc
