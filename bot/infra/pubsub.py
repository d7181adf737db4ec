"""One pub/sub channel kept subscribed for the life of a process, saying when it may be trusted.

A subscriber that misses messages must know it did: :class:`Subscription` reports ``live`` only
between the server's confirmation of the SUBSCRIBE and the first sign of trouble (a read that
fails, a PING not answered in time), and subscribes again on a new connection after it. Every
confirmation is reported again, so the reader drops what it built from messages it may have
missed meanwhile.

Any client :func:`bot.infra.redis.client_for` makes will do: standalone, Sentinel (its pool
follows the master) or Cluster (one node's subscription is enough: a Cluster delivers every
PUBLISH to every node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Subscription:
    """Feeds the messages of ``channel`` to ``on_message`` and its state to ``on_live``.

    ``on_live(True)`` after each confirmed (re)subscription, ``on_live(False)`` when the
    subscription is lost or stopped. ``quiet_s``: after this long without traffic a PING is
    sent; no answer within as long again counts as a lost connection.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        channel: str,
        *,
        on_message: Callable[[Any], None],
        on_live: Callable[[bool], None],
        quiet_s: float = 5.0,
        retry_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._on_message = on_message
        self._on_live = on_live
        self._quiet_s = quiet_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self.subscriptions = 0

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"subscription:{self._channel}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_live(False)

    async def wait_live(self) -> None:
        """Until the subscription is confirmed (put a timeout around it)."""
        await self._live.wait()

    def _set_live(self, live: bool) -> None:
        if live:
            self._live.set()
        elif not self._live.is_set():
            return
        else:
            self._live.clear()
        self._on_live(live)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("subscription to %s lost: %s", self._channel, exc)
            finally:
                self._set_live(False)
            await asyncio.sleep(self._retry_s)

    async def _listen(self) -> None:
        if isinstance(self._redis, RedisCluster):
            await self._redis.initialize()
        pubsub = self._redis.pubsub()
        restore: tuple[Any, Any] | None = None
        try:
            await pubsub.subscribe(self._channel)
            connection = pubsub.connection
            if connection is not None:
                # A dropped connection must be noticed, not silently re-made (redis-py would
                # re-subscribe and the messages in between would be lost unseen).
                restore = (connection, connection.retry)
                connection.retry = Retry(NoBackoff(), 0)
            pinged = False
            while True:
                message = await pubsub.get_message(timeout=self._quiet_s)
                if message is None:
                    if pinged:
                        raise TimeoutError(f"no answer to PING in {self._quiet_s} s")
                    await pubsub.ping()
                    pinged = True
                    continue
                # Anything heard answers the PING (whose answer redis-py parses oddly on RESP3).
                pinged = False
                kind = message["type"]
                if kind == "message":
                    self._on_message(message["data"])
                elif kind == "subscribe":
                    # Confirmed (again, after a reconnect): what was built before is dropped.
                    self.subscriptions += 1
                    self._live.clear()
                    self._set_live(True)
                elif kind == "unsubscribe":
                    raise RedisError("unsubscribed")
        finally:
            self._set_live(False)
            if restore is not None:
                restore[0].retry = restore[1]
                with contextlib.suppress(Exception):
                    await restore[0].disconnect()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
