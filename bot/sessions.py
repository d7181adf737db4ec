"""Conversation state in Redis, at two round trips per turn.

A turn is ``begin`` (one script: drop a redelivered message, take the user's lease or queue the
message behind the holder, load the session) and ``finish`` (one script: save the session, mark the
message handled, then either hand the holder the next queued message or release the lease).

Why a lease with an inbox instead of a lock that waits: two messages of one user must be handled one
after the other, also across processes. Rather than have the second one poll for the lock, it is
appended to the user's inbox and the process that holds the lease handles it next, in arrival
order. If the holder dies, its lease expires (by the injected clock) and whoever touches the session
next takes over, re-running the message that was in flight before the queued ones: nothing is lost.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import SessionLost, StorageError
from bot.keys import SessionKeys
from bot.messages import Inbound
from bot.writes import Write, settle

SCHEMA_VERSION = 1

# Take the user's lease, or queue the message behind whoever holds it.
#   KEYS[1] session  KEYS[2] lease  KEYS[3] inbox  KEYS[4] seen (zset: message id -> accepted at ms)
#   KEYS[5] rate (hash: start of the current window, messages in it)
#   ARGV[1] message id   ARGV[2] our lease token   ARGV[3] message payload (JSON)
#   ARGV[4] now (ms)     ARGV[5] lease length (ms) ARGV[6] lease key TTL (ms)
#   ARGV[7] messages allowed per window (0: no limit)  ARGV[8] window length (ms)
# Lease value: "<token>|<expires ms>|<message id>\t<payload>": it carries the message in flight.
# Inbox entries: "<message id>\t<payload>".
# Returns {"duplicate"} | {"busy"} | {"queued"} | {"run", session or false, entry}
#   | {"limited", session or false, ms until the window ends} for the first message over the limit
#   | {"silenced"} for the next ones (dropped until the window ends).
BEGIN = """
local msgid, token, payload = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
if redis.call('ZSCORE', KEYS[4], msgid) then return {'duplicate'} end
local limit = tonumber(ARGV[7])
if limit > 0 then
  local window = tonumber(ARGV[8])
  local r = redis.call('HMGET', KEYS[5], 'start', 'count')
  local start, count = tonumber(r[1]), tonumber(r[2])
  if not start or now - start >= window then start, count = now, 0 end
  count = count + 1
  redis.call('HSET', KEYS[5], 'start', start, 'count', count)
  redis.call('PEXPIRE', KEYS[5], window * 2)
  if count > limit then
    -- Remember it as seen so that a redelivery is not counted again.
    redis.call('ZADD', KEYS[4], now, msgid)
    if count == limit + 1 then
      return {'limited', redis.call('GET', KEYS[1]), start + window - now}
    end
    return {'silenced'}
  end
end
local entry = msgid .. '\\t' .. payload
local lease = redis.call('GET', KEYS[2])
if lease then
  local p1 = string.find(lease, '|', 1, true)
  local p2 = string.find(lease, '|', p1 + 1, true)
  local expires = tonumber(string.sub(lease, p1 + 1, p2 - 1))
  local inflight = string.sub(lease, p2 + 1)
  local inflight_id = string.sub(inflight, 1, string.find(inflight, '\\t', 1, true) - 1)
  if expires > now then
    if inflight_id == msgid then return {'busy'} end
    redis.call('RPUSH', KEYS[3], entry)
    redis.call('ZADD', KEYS[4], now, msgid)
    return {'queued'}
  end
  -- The holder died mid-turn: its message runs again first, unless that is this very message.
  if inflight_id ~= msgid then redis.call('LPUSH', KEYS[3], inflight) end
end
if redis.call('LLEN', KEYS[3]) > 0 then
  redis.call('RPUSH', KEYS[3], entry)
  redis.call('ZADD', KEYS[4], now, msgid)
  entry = redis.call('LPOP', KEYS[3])
end
redis.call('SET', KEYS[2], token .. '|' .. (now + tonumber(ARGV[5])) .. '|' .. entry,
           'PX', ARGV[6])
return {'run', redis.call('GET', KEYS[1]), entry}
"""

# Save the session, mark the message handled, and pass on to the next queued message or release.
#   KEYS[1] session  KEYS[2] lease  KEYS[3] inbox  KEYS[4] seen
#   ARGV[1] our lease token  ARGV[2] handled message id  ARGV[3] session JSON
#   ARGV[4] now (ms)  ARGV[5] lease length (ms)  ARGV[6] lease key TTL (ms)
#   ARGV[7] session TTL (s)  ARGV[8] how long message ids are remembered (ms)
# Returns {"lost"} | {"done"} | {"next", entry}.
FINISH = """
local token, msgid = ARGV[1], ARGV[2]
local now = tonumber(ARGV[4])
local lease = redis.call('GET', KEYS[2])
if not lease or string.sub(lease, 1, string.len(token) + 1) ~= token .. '|' then
  return {'lost'}
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[7])
local keep = tonumber(ARGV[8])
redis.call('ZADD', KEYS[4], now, msgid)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - keep)
redis.call('PEXPIRE', KEYS[4], keep)
local entry = redis.call('LPOP', KEYS[3])
if entry then
  redis.call('SET', KEYS[2], token .. '|' .. (now + tonumber(ARGV[5])) .. '|' .. entry,
             'PX', ARGV[6])
  return {'next', entry}
end
redis.call('DEL', KEYS[2])
return {'done'}
"""


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
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def loads(cls, identity: str, raw: str | None, *, now_ms: int, idle_ms: int) -> Session:
        """Rebuild a session; anything unreadable or stale restarts it, keeping the language."""
        if not raw:
            return cls(identity, touched_ms=now_ms)
        try:
            doc = json.loads(raw)
            locale = doc.get("l") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or doc.get("v") != SCHEMA_VERSION:
                return cls(
                    identity,
                    locale=locale if locale in ("id", "en") else None,
                    touched_ms=now_ms,
                    restarted="upgraded",
                )
            if now_ms - int(doc["t"]) > idle_ms:
                return cls(identity, locale=locale, touched_ms=now_ms, restarted="expired")
            offered = [(str(i), str(t)) for i, t in doc.get("o", [])]
            return cls(
                identity,
                locale=locale,
                step=doc.get("s"),
                data=dict(doc.get("d", {})),
                offered=offered,
                touched_ms=int(doc["t"]),
                fresh=False,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(identity, touched_ms=now_ms, restarted="upgraded")


@dataclass(frozen=True, slots=True)
class Turn:
    """The outcome of :meth:`SessionStore.begin`."""

    status: Literal["run", "queued", "duplicate", "busy", "limited", "silenced"]
    token: str = ""
    raw_session: str | None = None
    inbound: Inbound | None = None
    # With "limited": how long until the user may write again.
    retry_after_ms: int = 0


def _split_entry(entry: str) -> Inbound:
    _, _, payload = entry.partition("\t")
    return Inbound.loads(payload)


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
        rate_window_ms: int = 60_000,
    ) -> None:
        if lease_ms <= 0:
            raise ValueError("lease_ms must be positive")
        self.redis = redis
        self.lease_ms = lease_ms
        # The lease key outlives the lease so that a dead holder's message can be recovered, but
        # not for long: it carries the message text, which may be a NIK being typed.
        self.lease_key_ms = max(lease_ms * 20, 600_000)
        self.session_ttl_s = session_ttl_s
        self.remember_ms = remember_ms
        self.rate_limit = rate_limit
        self.rate_window_ms = rate_window_ms
        self._begin = redis.register_script(BEGIN)
        self._finish = redis.register_script(FINISH)

    async def begin(self, inbound: Inbound, now_ms: int) -> Turn:
        keys = SessionKeys(inbound.identity)
        token = secrets.token_hex(8)
        reply = await self._run(
            self._begin,
            [*keys.all(), keys.rate],
            [
                inbound.message_id,
                token,
                inbound.dumps(),
                now_ms,
                self.lease_ms,
                self.lease_key_ms,
                self.rate_limit,
                self.rate_window_ms,
            ],
        )
        status = _text(reply[0])
        if status == "run":
            return Turn("run", token, _text(reply[1]), _split_entry(_text(reply[2]) or ""))
        if status == "limited":
            return Turn("limited", raw_session=_text(reply[1]), retry_after_ms=int(reply[2]))
        if status in ("queued", "duplicate", "busy", "silenced"):
            return Turn(status)  # type: ignore[arg-type]
        raise StorageError(f"unexpected session script reply {status!r}")

    async def finish(
        self,
        identity: str,
        token: str,
        message_id: str,
        session: Session,
        now_ms: int,
        writes: Sequence[Write] = (),
    ) -> Inbound | None:
        """Save and pass on. Returns the next queued message of this user (we still hold the
        lease and must handle it), or None once the lease is released.

        ``writes`` (bot/writes.py) go in the same round trip, after the save."""
        keys = SessionKeys(identity)
        session.touched_ms = now_ms
        args: list[str | int] = [
            token,
            message_id,
            session.dumps(),
            now_ms,
            self.lease_ms,
            self.lease_key_ms,
            self.session_ttl_s,
            self.remember_ms,
        ]
        if writes:
            reply = await self._finish_with(keys.all(), args, writes)
        else:
            reply = await self._run(self._finish, keys.all(), args)
        status = _text(reply[0])
        if status == "lost":
            raise SessionLost(f"lease on {identity} expired before the turn finished")
        if status == "next":
            return _split_entry(_text(reply[1]) or "")
        return None

    async def _finish_with(
        self, keys: list[str], args: list[str | int], writes: Sequence[Write]
    ) -> Any:
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
    async def _run(script: AsyncScript, keys: list[str], args: list[str | int]) -> Any:
        """One script call, with redis-py's failures turned into our StorageError."""
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StorageError(f"Redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StorageError(f"session script failed: {exc}") from exc
