"""Invariants a fault test checks on the Redis it ran against, whatever happened meanwhile."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.infra.keys import PREFIX

# Keys that can hold what a user typed or who they are: everything in a user's slot (session,
# lease, inbox, seen ids, keyboard pages, pacing, WhatsApp's last-message marks...).
USER_KEYS = f"{PREFIX}:{{u:*"


async def keys_without_expiry(redis: aioredis.Redis, match: str = USER_KEYS) -> list[str]:
    """The keys matching ``match`` that would live for ever."""
    lasting = []
    async for key in redis.scan_iter(match=match, count=1000):
        if await redis.pttl(key) == -1:
            lasting.append(key.decode() if isinstance(key, bytes) else str(key))
    return sorted(lasting)


async def assert_user_text_expires(redis: aioredis.Redis) -> None:
    """No key that can hold user text lacks an expiry (issue #12: "no key without expiry holds
    user text")."""
    lasting = await keys_without_expiry(redis)
    assert not lasting, f"keys holding user text without an expiry: {lasting[:10]}"
