"""The Redis client a process gets for a standalone URL."""

from __future__ import annotations

import asyncio

import pytest
import redis

from bot.infra.embedded import RedisServer
from bot.infra.redis import WaitingPool, client_for


async def test_a_burst_waits_for_a_pooled_connection_instead_of_failing(
    redis_server: RedisServer,
) -> None:
    # Two connections, twenty commands that each hold one for 50 ms: redis-py's default pool
    # would refuse eighteen of them ("Too many connections"); they must queue instead.
    client = client_for(redis_server.url, max_connections=2)
    try:
        replies = await asyncio.gather(
            *(client.blpop([f"nothing:{n}"], timeout=0.05) for n in range(20))
        )
        assert replies == [None] * 20
    finally:
        await client.aclose()


async def test_a_wait_for_a_connection_is_bounded_and_gives_up_cleanly(
    redis_server: RedisServer,
) -> None:
    # One connection held for 0.5 s, a pool wait of 0.1 s: the second command fails with
    # redis-py's "No connection available." and the pool is whole again afterwards.
    client = client_for(redis_server.url, max_connections=1)
    pool = client.connection_pool
    assert isinstance(pool, WaitingPool)
    pool.timeout = 0.1
    try:
        held = asyncio.create_task(client.blpop(["nothing"], timeout=0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(redis.ConnectionError, match="No connection available"):
            await client.get("k")
        assert await held is None
        assert await client.get("k") is None
        assert not pool._waiters
    finally:
        await client.aclose()


async def test_a_cancelled_wait_leaves_no_waiter_behind(redis_server: RedisServer) -> None:
    client = client_for(redis_server.url, max_connections=1)
    pool = client.connection_pool
    assert isinstance(pool, WaitingPool)
    try:
        held = asyncio.create_task(client.blpop(["nothing"], timeout=0.2))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(client.get("k"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await held is None
        assert not pool._waiters
        assert await asyncio.wait_for(client.get("k"), 1) is None
    finally:
        await client.aclose()
