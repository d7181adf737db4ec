"""The RQ job that sends what a turn left in a user's outbox (bot/outbox.py), in order.

One sender at a time per user (the outbox's claim): it sends the head entry, removes it once the
platform accepted it, and goes on to the next. When the platform asks to wait (a 429's
``retry_after``, a 5xx's backoff), the sender keeps the claim for that long and schedules itself
again with the same token, so that no other job tries the user's replies meanwhile. A refusal
that will not change (a blocked bot, a malformed message) drops the entry, logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import timedelta

from rq import Queue, Retry

from bot.errors import RETRYABLE, ChannelError
from bot.logs import anon
from bot.outbox import CLAIM_MS, Outbox
from channels.base import PacedChannel
from workers.runtime import Runtime

log = logging.getLogger(__name__)

JOB = "workers.outbox.send_outbox"
# A platform that names no wait (a timeout): try again after this long.
DEFAULT_WAIT = 5.0
# Whatever a platform asks, a retry comes within this long.
MAX_WAIT = 300.0
# One job sends a user's replies one after the other, each within the send time.
JOB_TIMEOUT = 600
RETRY_INTERVALS = [CLAIM_MS // 1000 + 5, 120, 300]


async def schedule(queue: Queue, identity: str, wait: float = 0.0, token: str = "") -> None:
    """Have a worker send ``identity``'s outbox after ``wait`` seconds (RQ's client blocks, so
    it runs in a thread off the event loop)."""
    # A job whose worker died (or that met Redis down) runs again, once the dead sender's claim
    # on the outbox has expired (CLAIM_MS).
    retry = Retry(3, RETRY_INTERVALS)

    def enqueue() -> None:
        if wait > 0:
            # RQ keeps a scheduled time in whole seconds, truncated: one more, never too early.
            later = timedelta(seconds=math.ceil(wait) + 1)
            queue.enqueue_in(
                later, JOB, identity, token, result_ttl=0, job_timeout=JOB_TIMEOUT, retry=retry
            )
        else:
            queue.enqueue(JOB, identity, token, result_ttl=0, job_timeout=JOB_TIMEOUT, retry=retry)

    await asyncio.to_thread(enqueue)


def send_outbox(identity: str, token: str = "") -> str:
    """RQ entry point."""
    from rq import get_current_job

    job = get_current_job()
    queue = Queue(job.origin, connection=job.connection) if job is not None else None
    runtime = Runtime.get()
    return runtime.run(drain(runtime, identity, token or Outbox.new_token(), queue))


async def drain(runtime: Runtime, identity: str, token: str, queue: Queue | None) -> str:
    app = runtime.app()
    outbox = Outbox(app.redis)
    channels = await runtime.channels()
    sent = 0
    while True:
        entry = await outbox.claim(identity, token)
        if entry == "busy":
            return f"busy after {sent}"  # another sender has it, and sends what follows too
        if entry == "empty" or isinstance(entry, str):
            return f"sent {sent}"
        channel = channels.get(entry.channel)
        if not isinstance(channel, PacedChannel):
            log.error("outbox of %s: channel %r is not configured", anon(identity), entry.channel)
            await outbox.done(identity, token, entry.id)
            continue
        deadline = time.monotonic() + app.settings.send_budget
        try:
            await channel.send(entry.user_id, [entry.message], deadline=deadline)
        except ChannelError as exc:
            if exc.code in RETRYABLE and queue is not None:
                wait = min(MAX_WAIT, exc.retry_after or DEFAULT_WAIT)
                await outbox.release(identity, token, int(wait * 1000) + CLAIM_MS)
                await schedule(queue, identity, wait, token)
                log.info("outbox of %s: retrying in %.0fs: %s", anon(identity), wait, exc)
                return f"retry in {wait:.0f}s after {sent}"
            log.warning("outbox of %s: reply %s dropped: %s", anon(identity), entry.id, exc)
        else:
            sent += 1
        await outbox.done(identity, token, entry.id)
