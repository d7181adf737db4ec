"""Connecting to Redis: the configured server, or the checkout's embedded one.

``ANTREAN_REDIS_URL`` forms:

- ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS), ``unix:///path/redis.sock``
- ``redis-sentinel://[password@]host1:26379,host2:26379/<master name>[/db]``: the master that the
  Sentinels name, followed through fail-overs
- ``redis-cluster://[password@]host1:6379,host2:6379``: a Redis Cluster, given any of its nodes.
  Every script's keys share one hash tag, so each runs on the node owning that slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.connection import parse_url as redis_url_options
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection

from bot.errors import ConfigError
from bot.infra.embedded import RedisServer, client_name, release_shared_server, shared_server
from bot.infra.settings import Settings

SCHEMES = ("redis://", "rediss://", "unix://", "redis-sentinel://", "redis-cluster://")


@dataclass(frozen=True)
class Topology:
    kind: str  # "standalone" | "sentinel" | "cluster"
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    password: str | None = None


def parse_url(url: str) -> Topology:
    """Split an ``ANTREAN_REDIS_URL`` into what the client needs; errors name the setting."""
    for kind, scheme in (("sentinel", "redis-sentinel://"), ("cluster", "redis-cluster://")):
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            password = None
            if "@" in rest:
                secret, _, rest = rest.rpartition("@")
                password = unquote(secret.split(":", 1)[-1]) or None
            hosts, _, path = rest.partition("/")
            nodes = []
            for part in hosts.split(","):
                host, _, port = part.strip().rpartition(":")
                if not host or not port.isdigit():
                    raise ConfigError(f"ANTREAN_REDIS_URL: {part!r} is not host:port")
                nodes.append((host, int(port)))
            segments = [s for s in path.split("/") if s]
            if kind == "sentinel":
                if not segments:
                    raise ConfigError(
                        "ANTREAN_REDIS_URL: a Sentinel URL names the master: "
                        "redis-sentinel://host:26379/mymaster"
                    )
                db = int(segments[1]) if len(segments) > 1 and segments[1].isdigit() else 0
                return Topology(kind, url, tuple(nodes), segments[0], db, password)
            if segments:
                raise ConfigError("ANTREAN_REDIS_URL: a Cluster has no databases; drop the /path")
            return Topology(kind, url, tuple(nodes), password=password)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return Topology("standalone", url)
    raise ConfigError(f"ANTREAN_REDIS_URL must start with one of {', '.join(SCHEMES)}")


# Connections per process to a standalone Redis, and how long a command waits for one when all
# are busy (then: StorageError, and the webhook answers 503 for a redelivery).
DEFAULT_MAX_CONNECTIONS = 200
POOL_WAIT_S = 10
# A command whose answer (or a connection) takes longer fails with StorageError: a Redis that
# hangs mid-turn does not hold a webhook for ever.
SOCKET_TIMEOUT_S = 10
CONNECT_TIMEOUT_S = 5
# An idle pooled connection is checked (PING) before use after this long.
HEALTH_CHECK_S = 30


def production_options(max_connections: int = DEFAULT_MAX_CONNECTIONS) -> dict[str, Any]:
    """The options :func:`connect` gives :func:`client_for`: the benchmarks build their client
    with them too, so that they measure the client that ships."""
    return {
        "max_connections": max_connections,
        "client_name": client_name(),
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
    }


class WaitingPool(aioredis.ConnectionPool):
    """A pool where a burst waits for a connection (up to ``timeout`` seconds, then redis-py's
    ``ConnectionError("No connection available.")``), as redis-py's BlockingConnectionPool does,
    at a fraction of its cost per command.

    BlockingConnectionPool takes a condition, starts a timer and records telemetry on every
    command, and notifies the condition and dispatches an event on every release: 8-11% of a
    turn's CPU (issue #17). Here a free connection is taken and given back without any of that;
    only a command that finds every connection busy queues, first come first served, and a
    release hands its connection straight to the first in the queue. The readiness check of a
    pooled connection (unread data, closed socket) stays: with hiredis it costs nothing.
    """

    def __init__(self, *, timeout: float = POOL_WAIT_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[AbstractConnection]] = deque()

    async def get_connection(self, *_: Any, **__: Any) -> AbstractConnection:
        if not self._waiters and (
            self._available_connections or len(self._in_use_connections) < self.max_connections
        ):
            connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
        else:
            connection = await self._wait()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait(self) -> AbstractConnection:
        waiter: asyncio.Future[AbstractConnection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection just as the wait timed out or was cancelled: give it on.
                await self.release(waiter.result())
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise redis.ConnectionError("No connection available.") from exc
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def release(self, connection: AbstractConnection) -> None:
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # still in use, by the next command
                return
        self._in_use_connections.discard(connection)
        self._available_connections.append(connection)


class LeanCommands:
    """Two costs redis-py's asyncio connection pays on every command, cut (issue #17); mixed
    into its connection classes (:data:`LEAN`).

    - Packing: hiredis's C packer, which redis-py's blocking client uses where its asyncio client
      packs each argument in Python (4-6% of a turn at one applicant at a time).
    - Sending under ``socket_timeout``: redis-py wraps each write in ``asyncio.wait_for``, which
      on Python 3.11 starts a task per command, two more passes of the event loop (3% of a turn).
      Here the write is made at once, and the wait for a full socket buffer is bounded by
      ``asyncio.timeout`` instead; a timeout or a socket error drops the connection and raises
      redis-py's own errors, as redis-py does.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):
            # A command of several words ("CONFIG GET") goes as separate arguments.
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise redis.DataError(str(exc)) from None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        conn = cast(AbstractConnection, self)
        writer = conn._writer  # the stream redis-py's own send writes to
        if not conn.socket_timeout or not conn.is_connected or writer is None:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        if check_health:
            await conn.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        try:
            writer.writelines([command] if isinstance(command, bytes) else command)
            async with asyncio.timeout(conn.socket_timeout):
                await writer.drain()
        except TimeoutError:  # before OSError, of which it is a kind
            await conn.disconnect(nowait=True)
            raise redis.TimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await conn.disconnect(nowait=True)
            raise redis.ConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await conn.disconnect(nowait=True)
            raise


class LeanConnection(LeanCommands, Connection):
    pass


class LeanSSLConnection(LeanCommands, SSLConnection):
    pass


class LeanUnixConnection(LeanCommands, UnixDomainSocketConnection):
    pass


class LeanSentinelConnection(LeanCommands, SentinelManagedConnection):
    pass


# redis-py's connection class for a URL's scheme -> ours.
LEAN: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: LeanConnection,
    SSLConnection: LeanSSLConnection,
    UnixDomainSocketConnection: LeanUnixConnection,
}


class WaitingCluster(RedisCluster):
    """A cluster client that makes a burst wait for a connection instead of failing.

    redis-py's asyncio cluster client has no blocking pool: past ``max_connections`` a command
    raises at once. Commands in flight are capped below that, so the rest queue here. And a
    burst of first commands on a fresh client races its discovery of the cluster (seen as
    AttributeErrors inside redis-py), so the first command discovers it alone.
    """

    def __init__(self, *args: Any, max_in_flight: int = 256, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = asyncio.Semaphore(max_in_flight)
        self._discovery = asyncio.Lock()
        self._discovered = False

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if not self._discovered:
            async with self._discovery:
                if not self._discovered:
                    await self.initialize()
                    self._discovered = True
        async with self._gate:
            return await super().execute_command(*args, **kwargs)


class SentinelMaster(aioredis.Redis):
    """The master a Sentinel names; closing it also closes the connections to the Sentinels
    (redis-py leaves those open)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


class SyncSentinelMaster(redis.Redis):
    """The blocking twin of :class:`SentinelMaster`, for RQ."""

    def close(self) -> None:
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            sentinel.close()


def client_for(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for any supported URL (a RedisCluster quacks like a Redis here)."""
    topology = parse_url(url)
    options.setdefault("decode_responses", True)
    # RESP3, named rather than left to redis-py's default: with hiredis parsing either, a
    # command costs the same in both (issue #17), and the code and tests are written against it.
    options.setdefault("protocol", 3)
    if topology.kind == "cluster":
        options.pop("health_check_interval", None)
        # Commands in flight are capped at the pool size the settings give; each node's own
        # pool is left larger, so that the cap is what a burst meets.
        in_flight = options.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
        nodes = [ClusterNode(host, port) for host, port in topology.nodes]
        cluster = WaitingCluster(
            startup_nodes=nodes,
            password=topology.password,
            max_in_flight=in_flight,
            max_connections=max(1000, 2 * in_flight),
            **options,
        )
        return cluster  # type: ignore[return-value]
    if topology.kind == "sentinel":
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(topology.nodes), sentinel_kwargs={"password": topology.password}
        )
        master: aioredis.Redis = sentinel.master_for(
            topology.master,
            redis_class=SentinelMaster,
            connection_class=LeanSentinelConnection,
            db=topology.db,
            password=topology.password,
            **options,
        )
        return master
    # A burst waits for a connection rather than failing: redis-py's default pool raises "Too
    # many connections" at once past its size, which a webhook can only answer with 503.
    max_connections = options.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
    plain = redis_url_options(url).get("connection_class", Connection)
    pool = WaitingPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_S,
        connection_class=LEAN.get(plain, plain),
        **options,
    )
    return aioredis.Redis.from_pool(pool)


def sync_client_for(url: str, **options: Any) -> redis.Redis:
    """A blocking client, for RQ: standalone or Sentinel only (RQ does not run on a Cluster)."""
    topology = parse_url(url)
    if topology.kind == "cluster":
        raise ConfigError(
            "ANTREAN_QUEUE_REDIS_URL: RQ needs a standalone or Sentinel-managed Redis, not a "
            "Cluster; set ANTREAN_QUEUE_REDIS_URL to one when ANTREAN_REDIS_URL is a Cluster"
        )
    if topology.kind == "sentinel":
        from redis.sentinel import Sentinel as SyncSentinel

        sentinel = SyncSentinel(  # type: ignore[no-untyped-call]
            list(topology.nodes), sentinel_kwargs={"password": topology.password}
        )
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            topology.master,
            redis_class=SyncSentinelMaster,
            db=topology.db,
            password=topology.password,
            **options,
        )
        return master
    return redis.Redis.from_url(url, **options)


def connect(settings: Settings) -> tuple[aioredis.Redis, RedisServer | None]:
    """A client for ``ANTREAN_REDIS_URL``; with it unset, start (or join) the embedded server.

    Returns the client and the embedded server, if any, which the caller releases on exit.
    """
    server = None
    url = settings.redis_url
    if url is None:
        server = shared_server(settings.var_dir)
        url = server.url
    return client_for(url, **production_options(settings.redis_max_connections)), server


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """:func:`connect`, as a context manager: the client is closed, and the embedded server
    (if any) released, on the way out. For a bot of one's own (``examples/clinic.py``)."""
    client, server = connect(settings)
    try:
        yield client
    finally:
        await client.aclose()
        if server is not None:
            release_shared_server(server)
