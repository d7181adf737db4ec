"""Starting, resuming and stopping a broadcast: record it in Redis and put its batch jobs on the
queue."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping, Sequence

from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.booking.app import App
from bot.booking.jobs import EmptyAudience
from bot.core.clock import ms
from bot.core.i18n import LOCALES
from bot.errors import ConfigError, StorageError
from bot.infra.keys import BroadcastKeys
from workers.broadcasts.audience import find_audience, interleave
from workers.broadcasts.job import send_batch
from workers.broadcasts.progress import COUNTS
from workers.broadcasts.scripts import CANCEL

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# A batch waits for its pacing slots; with many workers the reservations ahead may add up.
JOB_TIMEOUT = 600
RETENTION_S = 30 * 86400


def batch_job_id(broadcast_id: str, batch: int) -> str:
    return f"broadcast-{broadcast_id}-{batch}"


async def create_broadcast(
    app: App,
    queue: Queue,
    *,
    audience: str,
    texts: Mapping[str, str],
    starter: str,
    broadcast_id: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> str:
    """Find the audience, record the broadcast and enqueue its batches; return its id.

    Raises :class:`EmptyAudience` when nobody is in the audience."""
    if not any(texts.get(lang, "").strip() for lang in LOCALES):
        raise ConfigError("a broadcast needs a text in at least one of: " + ", ".join(LOCALES))
    bid = broadcast_id or secrets.token_hex(6)
    recipients = interleave(
        await find_audience(app, audience),
        {"telegram": app.settings.telegram_rate, "whatsapp": app.settings.whatsapp_rate},
    )
    if not recipients:
        # Most likely a mistyped day or window: say so rather than report a finished broadcast.
        raise EmptyAudience(f"no active booking matches audience {audience!r}: nothing was sent")
    batches = [
        recipients[i : i + batch_size] for i in range(0, len(recipients), max(1, batch_size))
    ]
    keys = BroadcastKeys(bid)
    meta: dict[FieldT, EncodableT] = {
        "status": "running" if batches else "done",
        "audience": audience,
        "starter": starter,
        "created_ms": ms(app.clock.now()),
        "total": len(recipients),
        "batches": len(batches),
        "batches_left": len(batches),
        **{f"text_{lang}": texts.get(lang, "") for lang in LOCALES},
        **dict.fromkeys(COUNTS, 0),
    }
    try:
        if await app.redis.exists(keys.meta):
            raise ConfigError(f"broadcast {bid} exists already")
        # One slot but no MULTI (a Cluster pipeline may not support it): the meta hash goes last,
        # and nothing reads the others before it exists.
        async with app.redis.pipeline(transaction=False) as pipe:
            for i in range(0, len(recipients), 1000):
                chunk = recipients[i : i + 1000]
                pipe.hset(keys.state, mapping={r.account: "pending" for r in chunk})
            if batches:
                pipe.hset(
                    keys.batches,
                    mapping={
                        str(n): json.dumps([[r.account, r.locale] for r in batch])
                        for n, batch in enumerate(batches)
                    },
                )
            pipe.hset(keys.meta, mapping=meta)
            for key in keys.all():
                pipe.expire(key, RETENTION_S)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not record the broadcast: {exc}") from exc
    await asyncio.to_thread(enqueue_batches, queue, bid, range(len(batches)))
    log.info("broadcast %s to %d recipients in %d batches", bid, len(recipients), len(batches))
    return bid


def enqueue_batches(queue: Queue, broadcast_id: str, batches: Sequence[int] | range) -> list[str]:
    """Put batch jobs on the queue in one round trip (blocking: run it in a thread)."""
    datas = [
        Queue.prepare_data(
            send_batch,
            args=(broadcast_id, n),
            job_id=batch_job_id(broadcast_id, n),
            timeout=JOB_TIMEOUT,
            # A batch whose worker died is run again by RQ once it notices (abandoned job).
            retry=Retry(max=3, interval=[10, 60, 300]),
            result_ttl=7 * 86400,
            failure_ttl=30 * 86400,
            description=f"broadcast {broadcast_id} batch {n}",
        )
        for n in batches
    ]
    if not datas:
        return []
    with queue.connection.pipeline() as pipe:
        jobs = queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    return [job.id for job in jobs]


async def resume_broadcast(app: App, queue: Queue, broadcast_id: str) -> list[int]:
    """Enqueue again the batches that started but never finished (their worker died); return
    their numbers. Safe to call at any time: a batch never sends a recipient twice."""
    keys = BroadcastKeys(broadcast_id)
    try:
        count = int(await app.redis.hget(keys.meta, "batches") or 0)
        done = {int(n) for n in await app.redis.smembers(keys.done)}
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not read the broadcast: {exc}") from exc

    def unfinished() -> list[int]:
        again = []
        for n in range(count):
            if n in done:
                continue
            try:
                status = Job.fetch(batch_job_id(broadcast_id, n), queue.connection).get_status()
            except NoSuchJobError:
                status = None
            if status is None or status.value not in ("queued", "scheduled", "deferred"):
                again.append(n)
        return again

    again = await asyncio.to_thread(unfinished)
    await asyncio.to_thread(enqueue_batches, queue, broadcast_id, again)
    return again


async def cancel_broadcast(app: App, broadcast_id: str) -> bool:
    """Stop sending: recipients not yet claimed are counted ``cancelled``. True if it ran."""
    try:
        return bool(await app.redis.eval(CANCEL, 1, BroadcastKeys(broadcast_id).meta))
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not cancel the broadcast: {exc}") from exc
