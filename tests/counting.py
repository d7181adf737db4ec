"""A redis-py client that counts round trips: every command sent alone, and every pipeline."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline


class CountingPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        owner = getattr(self, "_counter", None)
        if owner is not None and self.command_stack:
            owner.round_trips += 1
        return await super().execute(raise_on_error)


class CountingRedis(aioredis.Redis):
    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        pipe = CountingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe._counter = self  # type: ignore[attr-defined]
        return pipe
