"""Outgoing message pacing, shared by every process through Redis.

Each bucket is one GCRA ("generic cell rate algorithm") token bucket kept as a Redis hash: ``tat``
is the theoretical arrival time (ms) of the next conforming message, ``until`` the end of a pause a
platform asked for. A take *reserves ahead*: it always moves ``tat`` on by one interval and tells
the caller how long to wait for its slot, so concurrent senders in any number of processes are
spread over the rate instead of racing for the same token and retrying.

Buckets (keys in bot/infra/keys.py):

- per channel, ``antrean:{pace:<channel>}``: the platform's throughput for the whole bot;
- per recipient, ``antrean:{u:<channel>:<user_id>}:pace`` (in the user's slot, beside the
  session): how fast one user may get messages.

Nothing here knows a platform: each channel declares the rates its platform allows
(:attr:`bot.core.channel.Channel.recipient_rate` and :attr:`~bot.core.channel.Channel.rate`,
as :attr:`~bot.core.channel.Channel.limits`) and passes them with every call.

Replies inside a live conversation go out at once but are counted (``force``), so a broadcast
running at the same time slows down for them rather than pushing the platform over its limit.
When the platform answers "too many requests" anyway, :meth:`Pacer.pause` holds back only the
bucket the error concerns, for as long as the platform asked.

Time comes in as milliseconds from the injected clock, never Redis ``TIME``: unit tests move a
:class:`~bot.core.clock.ManualClock` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.core.clock import Clock, ms
from bot.core.writes import Arg, Write
from bot.errors import StorageError
from bot.infra.keys import ChannelKeys, channel_pace
from bot.infra.metrics import BUCKET_WAIT, PLATFORM_ERRORS
from bot.infra.settings import Settings

Sleep = Callable[[float], Awaitable[None]]

# Reserve one slot in a bucket.
#   KEYS[1] bucket hash (fields tat, until)
#   ARGV[1] now (ms)   ARGV[2] emission interval (ms, 1000 / rate)   ARGV[3] burst (messages)
#   ARGV[4] "1" to reserve without waiting (a reply in a live conversation), else "0"
#   ARGV[5] how many messages to reserve (default 1; a turn's replies are counted together)
# Returns how many ms the caller must wait before sending (0 when forced).
# GCRA: a message conforms when it is no earlier than tat - burst * interval; reserving moves tat
# on by one interval from max(tat, now), so an idle bucket refills to ``burst`` by itself. The key
# expires once it could not hold anything back any more.
TAKE_FUNCTION = """
local function take(key, now, interval, burst, force, count)
  local v = redis.call('HMGET', key, 'tat', 'until')
  local tat = math.max(tonumber(v[1]) or now, now)
  local pause_end = tonumber(v[2]) or 0
  local new_tat = tat + interval * count
  local wait = math.max(new_tat - now - burst * interval, pause_end - now, 0)
  if force then wait = 0 end
  redis.call('HSET', key, 'tat', tostring(new_tat))
  redis.call('PEXPIRE', key, math.ceil(math.max(new_tat, pause_end) - now) + 60000)
  return math.ceil(wait)
end
"""
TAKE = (
    TAKE_FUNCTION
    + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1',
            tonumber(ARGV[5]) or 1)
"""
)


def forced_count(write: Write) -> tuple[str, tuple[Arg, Arg, Arg, Arg]] | None:
    """A write made by :meth:`Pacer.counting` as (bucket key, (now, interval, burst, count)),
    for a script of the bucket's slot to take it in its stead (the session's save takes the
    user's own bucket: bot/core/sessions.py); None for any other write."""
    args = write.args
    if write.script != TAKE or len(args) != 9 or args[7] != "1":
        return None
    return str(args[3]), (args[4], args[5], args[6], args[8])


# Hold a bucket back until now + the pause (never shortening a longer pause already set).
#   KEYS[1] bucket hash   ARGV[1] now (ms)   ARGV[2] pause (ms)
# Returns the end of the pause (ms).
PAUSE = """
local now = tonumber(ARGV[1])
local pause_end = now + tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], 'until')) or 0
if old > pause_end then pause_end = old end
redis.call('HSET', KEYS[1], 'until', tostring(pause_end))
local ttl = math.ceil(pause_end - now) + 60000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return math.ceil(pause_end)
"""


@dataclass(frozen=True)
class Rate:
    per_s: float
    burst: int


def channel_burst(per_s: float) -> int:
    """Our burst for a whole channel: a tenth of a second's worth. Well under what the platform
    tolerates, so the jitter between a reserved slot and the request's arrival never adds up to
    a refusal, while the long-run rate is still the full one."""
    return max(1, round(per_s / 10))


@dataclass(frozen=True)
class Limits:
    """The rates one channel must respect: to one recipient, and for the whole bot (None: that
    bucket is not kept)."""

    recipient: Rate | None = None
    overall: Rate | None = None

    @classmethod
    def of(cls, recipient: Rate | None, per_s: float | None) -> Limits:
        """``recipient`` as it is; the whole bot's ``per_s`` with our :func:`channel_burst`."""
        return cls(recipient, Rate(per_s, channel_burst(per_s)) if per_s else None)


def channel_key(channel: str) -> str:
    return channel_pace(channel)


def recipient_key(channel: str, user_id: str) -> str:
    """In the user's ``{u:<identity>}`` slot, like the session keys (bot.infra.keys.SessionKeys)."""
    return ChannelKeys(channel, user_id).pace


class Pacer:
    """Token buckets in Redis; every method is one script call per bucket touched.

    The rates come with each call, from the channel (its :class:`Limits`). ``channel_rates`` and
    ``recipient_rates`` (by channel name) are only for a call that brings none."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        channel_rates: Mapping[str, float] | None = None,
        recipient_rates: Mapping[str, Rate] | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.channel_rates = {
            name: Rate(per_s, channel_burst(per_s)) for name, per_s in (channel_rates or {}).items()
        }
        self.recipient_rates = dict(recipient_rates or {})
        self.sleep = sleep
        self._take = redis.register_script(TAKE)
        self._pause = redis.register_script(PAUSE)

    @classmethod
    def from_settings(cls, settings: Settings, redis: aioredis.Redis, clock: Clock) -> Pacer:
        """The process's pacer. The rates are the channels' (a channel's ``from_settings`` reads
        its own), so nothing of ``settings`` is needed here yet."""
        return cls(redis, clock)

    def limits(self, channel: str, given: Limits | None = None) -> Limits:
        """``given`` (the channel's), else what this pacer was built with for ``channel``."""
        if given is not None:
            return given
        return Limits(self.recipient_rates.get(channel), self.channel_rates.get(channel))

    def now_ms(self) -> int:
        return ms(self.clock.now())

    # -- the two scripts ---------------------------------------------------------------------

    async def take(
        self, key: str, rate_per_s: float, burst: int, now_ms: int, force: bool = False
    ) -> int:
        """Reserve one message in bucket ``key``; return the ms to wait before sending it."""
        try:
            wait = await self._take(
                keys=[key], args=[now_ms, 1000.0 / rate_per_s, burst, "1" if force else "0"]
            )
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not pace a message: {exc}") from exc
        return int(wait)

    async def pause(self, key: str, seconds: float, now_ms: int | None = None) -> None:
        """Hold bucket ``key`` back for ``seconds`` (what the platform asked for)."""
        now = self.now_ms() if now_ms is None else now_ms
        try:
            await self._pause(keys=[key], args=[now, math.ceil(seconds * 1000)])
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not pause a bucket: {exc}") from exc

    # -- what channels call ------------------------------------------------------------------

    async def wait_turn(self, channel: str, user_id: str, limits: Limits | None = None) -> None:
        """Wait until one more message to ``user_id`` on ``channel`` fits both buckets of its
        ``limits``.

        The recipient's bucket first: a slot in the channel's bucket reserved before a long wait
        for the recipient would go unused, and the message would then leave outside it.
        """
        limits = self.limits(channel, limits)
        recipient = limits.recipient
        if recipient is not None:
            wait = await self.take(
                recipient_key(channel, user_id), recipient.per_s, recipient.burst, self.now_ms()
            )
            BUCKET_WAIT.labels("recipient").observe(wait / 1000)
            if wait > 0:
                await self.sleep(wait / 1000)
        rate = limits.overall
        if rate is not None:
            wait = await self.take(channel_key(channel), rate.per_s, rate.burst, self.now_ms())
            BUCKET_WAIT.labels("channel").observe(wait / 1000)
            if wait > 0:
                await self.sleep(wait / 1000)

    def counting(
        self, channel: str, user_id: str, count: int = 1, limits: Limits | None = None
    ) -> list[Write]:
        """The writes that count ``count`` messages that go out now, whatever the buckets say (a
        conversation's replies): one take of each bucket. The engine sends them with the turn's
        save (bot/core/writes.py); sends outside a turn make them at once
        (bot.core.writes.apply)."""
        if count <= 0:
            return []
        now = self.now_ms()
        takes = []
        limits = self.limits(channel, limits)
        recipient = limits.recipient
        if recipient is not None:
            takes.append((recipient_key(channel, user_id), recipient))
        rate = limits.overall
        if rate is not None:
            takes.append((channel_key(channel), rate))
        return [
            Write(
                ("EVALSHA", self._take.sha, 1, key, now, 1000.0 / bucket.per_s, bucket.burst, "1",
                 count),
                TAKE,
            )
            for key, bucket in takes
        ]  # fmt: skip

    @staticmethod
    def merged(writes: list[Write]) -> list[Write]:
        """``writes`` with the counts of one bucket made together (a tap's removed keyboard and
        the turn's replies): one script call per bucket instead of one per count. A merged count
        is taken at the latest of their times, which holds the bucket back at least as long as
        taking them one after the other would."""
        firsts: dict[tuple[Any, ...], int] = {}
        out: list[Write] = []
        for write in writes:
            args = write.args
            if write.script != TAKE or len(args) != 9 or args[7] != "1":
                out.append(write)
                continue
            bucket = (args[3], args[5], args[6])
            at = firsts.get(bucket)
            if at is None:
                firsts[bucket] = len(out)
                out.append(write)
                continue
            old = out[at].args
            count = int(old[8]) + int(args[8])
            now = max(old[4], args[4])
            out[at] = Write((*old[:4], now, *old[5:8], count), TAKE)
        return out

    async def pause_channel(self, channel: str, seconds: float) -> None:
        PLATFORM_ERRORS.labels(channel, "rate_limited").inc()
        await self.pause(channel_key(channel), seconds)

    async def pause_recipient(self, channel: str, user_id: str, seconds: float) -> None:
        PLATFORM_ERRORS.labels(channel, "recipient_rate_limited").inc()
        await self.pause(recipient_key(channel, user_id), seconds)
