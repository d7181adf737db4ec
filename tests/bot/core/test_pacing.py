"""The pacing buckets' script on a real Redis, with time moved by hand (nothing sleeps here)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot.core.clock import ManualClock, ms
from bot.core.pacing import Limits, Pacer, Rate, channel_key, recipient_key
from bot.core.writes import run
from bot.infra.embedded import RedisServer
from bot.infra.settings import load_settings
from channels.console import ConsoleChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from tests.counting import CountingRedis
from tests.fake_telegram import TOKEN


def pacer(redis: aioredis.Redis, clock: ManualClock, slept: list[float] | None = None) -> Pacer:
    slept = [] if slept is None else slept

    async def sleep(seconds: float) -> None:
        # The injected clock moves instead of the test waiting.
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    return Pacer(redis, clock, {"telegram": 30.0}, {"telegram": Rate(1.0, 3)}, sleep=sleep)


async def test_the_rate_is_honoured_after_the_burst(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    now = ms(clock.now())
    waits = [await p.take("k", 10.0, 3, now) for _ in range(6)]
    # Three go at once (the burst), then one every 100 ms, reserved ahead of time.
    assert waits == [0, 0, 0, 100, 200, 300]


async def test_an_idle_bucket_refills_to_its_burst_and_no_further(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    now = ms(clock.now())
    for _ in range(3):
        await p.take("k", 10.0, 3, now)
    later = now + 10_000  # long idle: a full bucket, not 100 tokens
    assert [await p.take("k", 10.0, 3, later) for _ in range(4)] == [0, 0, 0, 100]


async def test_messages_taken_over_time_never_exceed_the_rate(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    start = ms(clock.now())
    send_times = []
    for i in range(100):
        now = start + i * 5  # callers arrive every 5 ms, far faster than 20/s
        send_times.append(now + await p.take("k", 20.0, 2, now))
    # Any 1 s window holds at most rate + burst messages; the whole run took the rate's time.
    for t in send_times:
        assert sum(1 for u in send_times if t <= u < t + 1000) <= 22
    assert send_times[-1] - send_times[0] >= (100 - 2) * 50 - 1


async def test_force_goes_now_but_counts(redis: aioredis.Redis, clock: ManualClock) -> None:
    p = pacer(redis, clock)
    now = ms(clock.now())
    assert [await p.take("k", 10.0, 1, now, force=True) for _ in range(3)] == [0, 0, 0]
    # The three forced messages used up 300 ms of the bucket: the next one waits for it.
    assert await p.take("k", 10.0, 1, now) == 300


async def test_a_pause_holds_back_only_its_bucket(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    now = ms(clock.now())
    await p.pause(channel_key("telegram"), 2.5, now)
    assert await p.take(channel_key("telegram"), 30.0, 3, now) == 2500
    assert await p.take(channel_key("whatsapp"), 80.0, 8, now) == 0
    assert await p.take(recipient_key("telegram", "1"), 1.0, 3, now) == 0
    # A shorter pause asked for later does not cut the first one short.
    await p.pause(channel_key("telegram"), 1.0, now + 100)
    assert await p.take(channel_key("telegram"), 30.0, 3, now + 100) >= 2400
    # Once over, the bucket is back to its rate.
    assert await p.take(channel_key("telegram"), 30.0, 3, now + 5000) == 0


async def test_a_recipient_pause_leaves_other_recipients_and_the_channel_alone(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    slept: list[float] = []
    p = pacer(redis, clock, slept)
    await p.pause_recipient("telegram", "1", 3)
    await p.wait_turn("telegram", "2")
    assert slept == []
    await p.wait_turn("telegram", "1")
    assert slept == [3.0]


async def test_wait_turn_spaces_one_chat_and_the_whole_channel(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    start = clock.now()
    for _ in range(5):
        await p.wait_turn("telegram", "7")
    # A chat: three at once, then one a second.
    assert (clock.now() - start).total_seconds() == 2.0
    clock.advance(10)
    start = clock.now()
    for chat in range(60):
        await p.wait_turn("telegram", str(1000 + chat))
    # Sixty chats at 30/s (burst 3): just under two seconds.
    elapsed = (clock.now() - start).total_seconds()
    assert 1.85 <= elapsed <= 1.95


async def test_the_rates_come_from_the_channel(redis: aioredis.Redis, clock: ManualClock) -> None:
    """A pacer built with no rates paces by what each call brings: the channel's limits."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    p = Pacer(redis, clock, sleep=sleep)
    limits = Limits.of(Rate(1.0, 3), 30.0)
    start = clock.now()
    for _ in range(5):
        await p.wait_turn("any", "7", limits)
    assert (clock.now() - start).total_seconds() == 2.0
    # Without limits, nothing holds a message back.
    for _ in range(5):
        await p.wait_turn("other", "7")
    assert len(slept) == 2
    assert len(p.counting("other", "7", 1)) == 0
    assert len(p.counting("any", "7", 1, limits)) == 2


def test_each_platform_channel_declares_its_rates(tmp_path: Path) -> None:
    """Pacing names no platform: Telegram's and WhatsApp's rates live on their channels, the
    whole bot's from settings."""
    settings = load_settings(var_dir=tmp_path, telegram_token=TOKEN, telegram_rate=12.0)
    telegram = TelegramChannel.from_settings(settings)
    assert telegram.limits == Limits(Rate(1.0, 3), Rate(12.0, 1))
    assert WhatsAppChannel.recipient_rate == Rate(1 / 6, 3)
    assert WhatsAppChannel.rate == 80.0
    assert ConsoleChannel().limits == Limits()


async def test_keys_expire_once_they_hold_nothing_back(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    p = pacer(redis, clock)
    await p.take("k", 1.0, 1, ms(clock.now()))
    assert 0 < await redis.pttl("k") <= 61_000


async def test_a_turns_replies_are_counted_in_both_buckets_in_one_round_trip(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    p = pacer(client, clock)
    await run(client, p.counting("telegram", "42", 3))  # a fresh server: the script loads here
    client.round_trips = 0
    await run(client, p.counting("telegram", "42", 2))
    assert client.round_trips == 1
    # Five replies counted: the chat's bucket (1/s, burst 3) now makes a broadcast wait, while
    # another chat's does not.
    now = ms(clock.now())
    assert await p.take(recipient_key("telegram", "42"), 1.0, 3, now) > 0
    assert await p.take(recipient_key("telegram", "43"), 1.0, 3, now) == 0
    await client.aclose()


async def test_counts_of_one_bucket_made_together_count_as_many(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    # A tap's removed keyboard (1) and the turn's replies (2), merged: one take per bucket, the
    # buckets as far on as three messages taken one by one.
    p = pacer(redis, clock)
    first = p.counting("telegram", "42", 1)
    clock.advance(timedelta(milliseconds=5))
    writes = [*first, *p.counting("telegram", "42", 2), *p.counting("telegram", "43", 1)]
    merged = Pacer.merged(writes)
    assert len(merged) == 3  # chat 42, the channel, chat 43
    await run(redis, merged)
    one = float(await redis.hget(recipient_key("telegram", "42"), "tat") or 0)
    assert one == ms(clock.now()) + 3 * 1000
    channel = float(await redis.hget(channel_key("telegram"), "tat") or 0)
    assert round(channel - ms(clock.now())) == round(4 * 1000 / 30)
