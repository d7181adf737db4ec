"""Writes that ride along with a turn's save.

Some of a turn's Redis writes need no answer before the user gets theirs: the audit entry of a
booking, the count of the replies in the pacing buckets. Rather than a round trip each, they are
collected during the turn (:meth:`bot.core.dialog.Context.later`,
:meth:`bot.core.channel.Channel.reply`) and sent in one pipeline with the script that saves the
session (:meth:`SessionStore.finish <bot.core.sessions.SessionStore.finish>`), after the replies are
out.

Keys in one pipeline may live in different Redis Cluster slots: the cluster client sends each
node its share.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger(__name__)

Arg = str | int | float


@dataclass(frozen=True)
class Write:
    """One Redis command whose answer nobody waits for.

    ``script`` is the Lua source when ``args`` is an ``EVALSHA`` of it: on a fresh (or flushed)
    server the script is loaded and the command sent again.
    """

    args: tuple[Arg, ...]
    script: str | None = None


async def run(redis: aioredis.Redis, writes: Sequence[Write]) -> None:
    """Send ``writes`` now, in one pipeline (where no save carries them). A write the server
    refuses is logged; an unreachable Redis raises redis-py's error."""
    if not writes:
        return
    pipe = redis.pipeline(transaction=False)
    for write in writes:
        pipe.execute_command(*write.args)
    await settle(redis, writes, await pipe.execute(raise_on_error=False))


async def apply(redis: aioredis.Redis, writes: Sequence[Write]) -> None:
    """:func:`run`, for writes that are a courtesy (pacing counts, keyboard pages): a failure is
    logged, never raised."""
    try:
        await run(redis, writes)
    except (RedisError, OSError) as exc:
        log.warning("could not make %d write(s): %s", len(writes), exc)


async def settle(redis: aioredis.Redis, writes: Sequence[Write], outcomes: Sequence[Any]) -> None:
    """After a pipeline: send again the writes whose script the server did not know (a fresh or
    flushed server), log the ones that failed otherwise."""
    for write, outcome in zip(writes, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            continue
        try:
            if isinstance(outcome, NoScriptError) and write.script is not None:
                await redis.script_load(write.script)
                await redis.execute_command(*write.args)  # type: ignore[no-untyped-call]
                continue
        except (RedisError, OSError) as exc:
            outcome = exc
        log.warning("a write after the turn failed: %s: %s", write.args[0], outcome)
