"""The RQ job of a broadcast: send one batch.

Delivery is at most once, and exactly once unless a worker dies in the middle of a send. A batch
job waits for a recipient's turn in the pacing buckets (bot/core/pacing.py), then claims the
recipient (pending -> sending:<attempt>) in one script right before the send, then records the
outcome. A re-run of a batch (its worker was killed and RQ runs the job again) sends the pending
recipients and never those that are sent or were in flight: a recipient found "sending" under an
earlier attempt may or may not have received the message, so it is counted ``unconfirmed``
rather than sent twice. The counts therefore always add up to ``total`` once the last batch ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import Counter
from collections.abc import Mapping

from bot.core.clock import ms
from bot.core.i18n import LOCALES
from bot.core.messages import Text
from bot.core.pacing import Pacer
from bot.errors import ChannelError
from bot.infra.keys import BroadcastKeys
from bot.infra.logs import anon
from bot.infra.metrics import BROADCAST_SENDS
from workers.broadcasts.progress import MILESTONES, progress, progress_text, tally_text
from workers.broadcasts.scripts import BATCH_DONE, CLAIM, FINISH, SWEEP
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

# Recipients of one batch in flight at once, each waiting for its slot in the pacing buckets:
# enough for one process alone to keep a channel at its full rate, and below the Redis client's
# connection pool (100 by default), which every one of them may use at the same moment.
CONCURRENCY = 50


def send_batch(broadcast_id: str, batch: int) -> str:
    """The RQ job: send one batch of a broadcast. Returns a summary (kept as the job's result)."""
    runtime = current()
    return runtime.run(Batch(runtime, broadcast_id, batch).run())


class Batch:
    def __init__(self, runtime: Runtime, broadcast_id: str, batch: int) -> None:
        self.runtime = runtime
        self.app = runtime.app()
        self.id = broadcast_id
        self.batch = batch
        self.keys = BroadcastKeys(broadcast_id)
        self.attempt = secrets.token_hex(8)
        self.pacer = Pacer.from_settings(self.app.settings, self.app.redis, self.app.clock)
        redis = self.app.redis
        self._sweep = redis.register_script(SWEEP)
        self._claim = redis.register_script(CLAIM)
        self._finish = redis.register_script(FINISH)
        self._batch_done = redis.register_script(BATCH_DONE)
        self.outcomes: Counter[str] = Counter()

    async def run(self) -> str:
        raw = await self.app.redis.hget(self.keys.batches, str(self.batch))
        if raw is None:
            # Cancelled and deleted, expired, or a stray job: nothing to send, nothing to retry.
            log.warning("broadcast %s batch %d: no such broadcast", self.id, self.batch)
            return "missing"
        recipients = {account: locale for account, locale in json.loads(raw)}
        swept = await self._sweep(keys=[self.keys.meta, self.keys.state], args=list(recipients))
        if swept[0] == "missing":
            log.warning("broadcast %s batch %d: no such broadcast", self.id, self.batch)
            return "missing"
        meta = {str(k): str(v) for k, v in (await self.app.redis.hgetall(self.keys.meta)).items()}
        texts: dict[str, str] = {lang: meta.get(f"text_{lang}", "") for lang in LOCALES}
        pending = list(swept[1:])
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(account: str) -> None:
            async with semaphore:
                outcome = await self.deliver(account, recipients[account], texts)
                self.outcomes[outcome] += 1

        results = await asyncio.gather(*(one(a) for a in pending), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            # Unclaimed recipients stay pending and claimed ones stay "sending": RQ's retry of
            # this job sends the former and counts the latter unconfirmed.
            raise errors[0]
        if (
            await self._batch_done(
                keys=[self.keys.meta, self.keys.done], args=[self.batch, ms(self.app.clock.now())]
            )
            == "last"
        ):
            await self.report(meta.get("starter", ""))
        else:
            await self.milestone(meta.get("starter", ""))
        return ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "nothing to send"

    async def deliver(self, account: str, locale: str, texts: Mapping[str, str]) -> str:
        name, _, user_id = account.partition(":")
        # The recipient's language, else the first language the broadcast has a text in.
        text = texts.get(locale) or next(filter(None, (texts.get(lang) for lang in LOCALES)), "")
        claimed = False

        async def claim() -> bool:
            nonlocal claimed
            status = await self._claim(
                keys=[self.keys.meta, self.keys.state], args=[account, self.attempt]
            )
            claimed = bool(status == "claimed")
            return claimed

        channel = (await self.runtime.channels()).get(name)
        if channel is None:
            if not await claim():
                return "skipped"
            await self._unconfigured(name)
            return await self.record(account, "failed")
        try:
            # Telegram and WhatsApp wait for the turn in both pacing buckets, then claim and
            # send; a channel without pacing (the console) claims, then sends.
            if not await channel.deliver_paced(
                user_id, text, locale=locale, pacer=self.pacer, claim=claim
            ):
                return "skipped"
        except ChannelError as exc:
            if not claimed:
                raise
            if exc.code == "undeliverable":
                log.info("broadcast %s: %s undeliverable", self.id, anon(account))
                return await self.record(account, "undeliverable")
            log.warning("broadcast %s: sending to %s failed: %s", self.id, anon(account), exc)
            return await self.record(account, "failed")
        return await self.record(account, "sent")

    async def record(self, account: str, outcome: str) -> str:
        await self._finish(
            keys=[self.keys.meta, self.keys.state], args=[account, self.attempt, outcome]
        )
        BROADCAST_SENDS.labels(outcome).inc()
        return outcome

    async def _unconfigured(self, name: str) -> None:
        # Once per broadcast, not once per recipient: a missing channel affects them all.
        if await self.app.redis.hsetnx(self.keys.meta, f"warned:{name}", 1):
            log.error(
                "broadcast %s: channel %r is not configured; its recipients fail", self.id, name
            )

    async def milestone(self, starter: str) -> None:
        """Tell a chat starter how far it got at each quarter of the batches, once each (the
        first batch job to cross a quarter claims it)."""
        if ":" not in starter:
            return
        p = await progress(self.app, self.id)
        if p is None or not p.batches:
            return
        share = 100 * (p.batches - p.batches_left) // p.batches
        reached = max((m for m in MILESTONES if share >= m), default=None)
        if reached is None or not await self.app.redis.hsetnx(
            self.keys.meta, f"milestone:{reached}", 1
        ):
            return
        await self.tell(starter, progress_text(self.app.catalog, self.id, reached, p))

    async def report(self, starter: str) -> None:
        """Record the final tally and tell the starter, if they are a chat identity."""
        p = await progress(self.app, self.id)
        if p is None:
            return
        text = tally_text(self.app.catalog, self.id, p)
        await self.app.redis.hset(self.keys.meta, "tally", text)
        log.info("%s", text.splitlines()[-1])
        await self.tell(starter, text)

    async def tell(self, starter: str, text: str) -> None:
        name, _, user_id = starter.partition(":")
        channel = (await self.runtime.channels()).get(name) if user_id else None
        if channel is None:
            return
        try:
            await channel.send(user_id, [Text(text)])
        except ChannelError as exc:
            log.warning(
                "broadcast %s: could not tell %s how it went: %s", self.id, anon(starter), exc
            )
