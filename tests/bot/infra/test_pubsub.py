"""A subscription says when it may be trusted: live only between a confirmed SUBSCRIBE and the
first sign of trouble, and it comes back by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from bot.infra.pubsub import Subscription


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``check()`` to hold, looking every 5 ms (AssertionError after ``seconds``)."""
    for _ in range(int(seconds / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    assert check()


async def test_messages_arrive_only_while_live_and_it_resubscribes(redis: aioredis.Redis) -> None:
    states: list[bool] = []
    messages: list[Any] = []
    subscription = Subscription(
        redis, "test:chan", on_message=messages.append, on_live=states.append, retry_s=0.05
    )
    subscription.start()
    try:
        async with asyncio.timeout(5):
            await subscription.wait_live()
        assert states == [True]
        await redis.publish("test:chan", "one")
        await until(lambda: messages == ["one"])
        await redis.client_kill_filter(_type="pubsub")
        await until(lambda: states[-1] is False)
        await until(lambda: states[-1] is True)  # subscribed again, on a new connection
        assert states == [True, False, True] and subscription.subscriptions == 2
        await redis.publish("test:chan", "two")
        await until(lambda: messages == ["one", "two"])
    finally:
        await subscription.stop()
    assert states[-1] is False and not subscription.live


async def test_a_silent_connection_is_noticed_by_its_ping(redis: aioredis.Redis) -> None:
    states: list[bool] = []
    subscription = Subscription(
        redis, "test:chan", on_message=lambda _: None, on_live=states.append, quiet_s=0.05
    )
    subscription.start()
    try:
        async with asyncio.timeout(5):
            await subscription.wait_live()
        await asyncio.sleep(0.3)  # quiet: PINGs are answered, it stays live
        assert states == [True]
        await redis.client_pause(500)  # the server answers nothing for a while
        await until(lambda: states[-1] is False, seconds=2)
    finally:
        await subscription.stop()
