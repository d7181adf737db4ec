"""The Redis client a process gets for a standalone URL."""

from __future__ import annotations

import asyncio

from bot.infra.embedded import RedisServer
from bot.infra.redis import client_for


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
