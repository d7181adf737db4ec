"""The RQ job that sends what a turn left in a user's outbox (bot/core/outbox.py), in order.

One sender at a time per user (the outbox's claim): it sends the head entry, removes it once the
platform accepted it, and goes on to the next. When the platform asks to wait (a 429's
``retry_after``, a 5xx's backoff), the sender keeps the claim for that long and schedules itself
again with the same token, so that no other job tries the user's replies meanwhile. A refusal
that will not change (a blocked bot, a malformed message) drops the entry, logged.
"""

from __future__ import annotations

import logging
import time

from bot.core.outbox import CLAIM_MS, Outbox
from bot.errors import RETRYABLE, ChannelError
from bot.infra.logs import anon
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

# A platform that names no wait (a timeout): try again after this long.
DEFAULT_WAIT = 5.0
# Whatever a platform asks, a retry comes within this long.
MAX_WAIT = 300.0


def send_outbox(identity: str, token: str = "") -> str:
    """RQ entry point."""
    runtime = current()
    return runtime.run(drain(runtime, identity, token or Outbox.new_token()))


async def drain(runtime: Runtime, identity: str, token: str) -> str:
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
        if channel is None:
            log.error("outbox of %s: channel %r is not configured", anon(identity), entry.channel)
            await outbox.done(identity, token, entry.id)
            continue
        deadline = time.monotonic() + app.settings.send_budget
        try:
            await channel.send_within(entry.user_id, [entry.message], deadline)
        except ChannelError as exc:
            if exc.code in RETRYABLE and app.jobs is not None:
                wait = min(MAX_WAIT, exc.retry_after or DEFAULT_WAIT)
                await outbox.release(identity, token, int(wait * 1000) + CLAIM_MS)
                await app.jobs.send_outbox(identity, wait=wait, token=token)
                log.info("outbox of %s: retrying in %.0fs: %s", anon(identity), wait, exc)
                return f"retry in {wait:.0f}s after {sent}"
            log.warning("outbox of %s: reply %s dropped: %s", anon(identity), entry.id, exc)
        else:
            sent += 1
        await outbox.done(identity, token, entry.id)
