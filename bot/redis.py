"""Connecting to Redis: the configured server, or the checkout's embedded one."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.embedded import CLIENT_NAME, RedisServer, shared_server
from bot.settings import Settings


def connect(settings: Settings) -> tuple[aioredis.Redis, RedisServer | None]:
    """A client for ``ANTREAN_REDIS_URL``; with it unset, start (or join) the embedded server.

    Returns the client and the embedded server, if any, which the caller releases on exit.
    """
    server = None
    url = settings.redis_url
    if url is None:
        server = shared_server(settings.var_dir)
        url = server.url
    client = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        client_name=CLIENT_NAME,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return client, server
