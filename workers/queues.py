"""RQ's side of Redis: a synchronous client and the queues Antrean enqueues on."""

from __future__ import annotations

import redis
from rq import Queue

from bot.infra.embedded import RedisServer, client_name, shared_server
from bot.infra.redis import sync_client_for
from bot.infra.settings import Settings

QUEUE = "antrean"


def queue_connection(settings: Settings) -> tuple[redis.Redis, RedisServer | None]:
    """RQ wants bytes and a blocking client: ``ANTREAN_QUEUE_REDIS_URL``, else the app's Redis,
    else the checkout's embedded server."""
    server = None
    url = settings.queue_redis_url or settings.redis_url
    if url is None:
        server = shared_server(settings.var_dir)
        url = server.url
    return sync_client_for(url, client_name=client_name(), socket_timeout=30), server


def default_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=connection)
