"""Test fixtures: a real redis-server that the suite starts itself, and an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer, free_port
from tests.cluster import LocalCluster


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, for the whole test session."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A fresh, empty database for each test."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    # A Monday morning in Jakarta (01:00 UTC = 08:00 WIB), far from today's date on purpose.
    return ManualClock(datetime(2030, 3, 4, 1, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A real three-master Redis Cluster on loopback, for the whole test session."""
    cluster = LocalCluster(Path(tmp_path_factory.mktemp("cluster")))
    cluster.start()
    yield cluster
    cluster.stop()
