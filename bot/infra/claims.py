"""Claims: a key taken with a random token (``SET NX``) that only its holder may give back.

Jobs that may run twice (RQ retries, a worker dying after a send) claim a sent-marker before
they send and give it back only when the send failed; the day-end job holds a lock the same way.
A claim carries a TTL, so one never given back (a dead process) cannot block forever.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.errors import StorageError

# Give a claim back if it is still ours (another holder may have taken it since it expired).
#   KEYS[1] the claimed key   ARGV[1] the claim's token
# Returns 1 when given back, 0 when it was not (or no longer) ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_token() -> str:
    """A claim token: random, so that nobody else's release matches it."""
    return secrets.token_hex(8)


class Claims:
    """Takes and gives back claims on one Redis (its script is registered once)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._release: Any = redis.register_script(RELEASE)

    async def claim(self, key: str, token: str, ttl_ms: int) -> bool:
        """Take ``key`` for ``token`` for ``ttl_ms``; False when someone holds it already."""
        try:
            return bool(await self._redis.set(key, token, nx=True, px=ttl_ms))
        except RedisError as exc:
            raise StorageError(f"claim {key}: {exc}") from exc

    async def give_back(self, key: str, token: str) -> bool:
        """Give ``key`` back if ``token`` still holds it; True when it did."""
        try:
            return bool(await self._release(keys=[key], args=[token]))
        except RedisError as exc:
            raise StorageError(f"claim {key}: {exc}") from exc
