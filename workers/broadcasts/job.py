"""Broadcasts: one text (per language) to everyone with an active booking, as RQ batch jobs.

State lives in Redis under the broadcast's ``{b:<id>}`` hash tag (one Cluster slot, so every
script below touches one slot):

- ``meta``: status (running / cancelled / done), the texts, who started it, the audience, and the
  counts ``total``, ``sent``, ``failed``, ``undeliverable``, ``unconfirmed``, ``cancelled``, plus
  ``batches`` and ``batches_left``;
- ``state``: recipient account -> pending | sending:<attempt> | sent | failed | undeliverable |
  unconfirmed | cancelled;
- ``batches``: batch number -> JSON list of [account, locale]; ``done``: set of finished batches.

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
import contextlib
import json
import logging
import secrets
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.booking.app import App
from bot.core.channel import Channel
from bot.core.clock import ms
from bot.core.messages import Text
from bot.core.pacing import Pacer
from bot.errors import ChannelError, ConfigError, StorageError
from bot.infra.embedded import release_shared_server
from bot.infra.keys import PREFIX
from bot.infra.logs import anon
from bot.infra.metrics import BROADCAST_SENDS
from bot.infra.redis import connect
from bot.infra.settings import Settings
from workers.queues import default_queue, queue_connection
from workers.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# Recipients of one batch in flight at once, each waiting for its slot in the pacing buckets:
# enough for one process alone to keep a channel at its full rate, and below the Redis client's
# connection pool (100 by default), which every one of them may use at the same moment.
CONCURRENCY = 50
# A batch waits for its pacing slots; with many workers the reservations ahead may add up.
JOB_TIMEOUT = 600
RETENTION_S = 30 * 86400
LANGUAGES = ("id", "en")
# Order recipients as fast channels would consume them (see ``interleave``); others go fast.
DEFAULT_RATE = 1000.0

# Sweep a batch at the start of an attempt.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1..n] the batch's recipients
# A recipient still "sending" belongs to an attempt that died mid-send: it becomes "unconfirmed"
# (it may have received the message; it must not get a second one). If the broadcast is not
# running any more, pending recipients become "cancelled". Returns {status, pending recipients...}
# or {'missing'}.
SWEEP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local status = redis.call('HGET', KEYS[1], 'status')
local out = {status}
for i = 1, #ARGV do
  local st = redis.call('HGET', KEYS[2], ARGV[i])
  if st and string.sub(st, 1, 8) == 'sending:' then
    redis.call('HSET', KEYS[2], ARGV[i], 'unconfirmed')
    redis.call('HINCRBY', KEYS[1], 'unconfirmed', 1)
  elseif st == 'pending' then
    if status == 'running' then
      out[#out + 1] = ARGV[i]
    else
      redis.call('HSET', KEYS[2], ARGV[i], 'cancelled')
      redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
    end
  end
end
return out
"""

# Claim one recipient right before its send.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1] recipient   ARGV[2] attempt token
# Returns 'claimed', 'missing' (no such broadcast or recipient), 'cancelled' (the broadcast was
# cancelled: the recipient is counted so) or the recipient's state when it is not pending.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local st = redis.call('HGET', KEYS[2], ARGV[1])
if not st then return 'missing' end
if st ~= 'pending' then return st end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then
  redis.call('HSET', KEYS[2], ARGV[1], 'cancelled')
  redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
  return 'cancelled'
end
redis.call('HSET', KEYS[2], ARGV[1], 'sending:' .. ARGV[2])
return 'claimed'
"""

# Record how a claimed send ended, if the claim is still this attempt's.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1] recipient   ARGV[2] attempt token   ARGV[3] sent | failed | undeliverable
# Returns 1 when recorded, 0 when the claim was no longer ours (a sweep took it over).
FINISH = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'sending:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
return 1
"""

# Mark one batch finished, once however often it runs.
#   KEYS[1] meta   KEYS[2] set of finished batches
#   ARGV[1] batch number   ARGV[2] now (ms)
# Returns 'missing', 'again' (this batch had finished before), 'more' or 'last' (exactly once per
# broadcast: the caller reports the tally).
BATCH_DONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'again' end
local left = redis.call('HINCRBY', KEYS[1], 'batches_left', -1)
if left > 0 then return 'more' end
if redis.call('HGET', KEYS[1], 'status') == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'done')
end
redis.call('HSET', KEYS[1], 'finished_ms', ARGV[2])
return 'last'
"""

# Stop a running broadcast.   KEYS[1] meta   Returns 1 if it was running, else 0.
CANCEL = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
return 1
"""

COUNTS = ("sent", "failed", "undeliverable", "unconfirmed", "cancelled")


class BroadcastKeys:
    __slots__ = ("batches", "done", "meta", "state")

    def __init__(self, broadcast_id: str) -> None:
        tag = f"{PREFIX}:{{b:{broadcast_id}}}"
        self.meta = f"{tag}:meta"
        self.state = f"{tag}:state"
        self.batches = f"{tag}:batches"
        self.done = f"{tag}:done"

    def all(self) -> list[str]:
        return [self.meta, self.state, self.batches, self.done]


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    sent: int
    failed: int
    undeliverable: int
    unconfirmed: int
    cancelled: int
    batches: int
    batches_left: int
    finished: bool

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.undeliverable + self.unconfirmed + self.cancelled

    @property
    def pending(self) -> int:
        return self.total - self.handled


@dataclass(frozen=True)
class Recipient:
    account: str
    locale: str


class EmptyAudience(ConfigError):
    """Nobody has an active booking in the audience: the broadcast is refused."""


# -- audience -----------------------------------------------------------------------------------


def parse_audience(audience: str) -> tuple[str, str | None, str | None]:
    """``active``, ``day:<YYYY-MM-DD>`` or ``window:<YYYY-MM-DD>:<window>`` -> kind, day, window."""
    kind, _, rest = audience.partition(":")
    if kind == "active" and not rest:
        return "active", None, None
    if kind == "day" and _is_day(rest):
        return "day", rest, None
    day, _, window = rest.partition(":")
    if kind == "window" and _is_day(day) and window:
        return "window", day, window
    raise ConfigError(
        f"audience {audience!r}: expected active, day:<YYYY-MM-DD> or window:<YYYY-MM-DD>:<window>"
    )


def _is_day(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


async def find_audience(app: App, audience: str) -> list[Recipient]:
    """Everyone with an active booking matching ``audience``, once per account, in no order.

    There is no per-day index of bookings, so this SCANs the office's booking hashes; it reads
    them in pipelined pages and runs once per broadcast.
    """
    kind, day, window = parse_audience(audience)
    pattern = f"{PREFIX}:{{o:{app.office.id}}}:booking:*"
    found: dict[str, Recipient] = {}
    try:
        page: list[str] = []
        async for key in app.redis.scan_iter(match=pattern, count=1000):
            page.append(key)
            if len(page) >= 500:
                await _read_page(app, page, kind, day, window, found)
                page = []
        await _read_page(app, page, kind, day, window, found)
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not read the bookings: {exc}") from exc
    return list(found.values())


async def _read_page(
    app: App,
    keys: list[str],
    kind: str,
    day: str | None,
    window: str | None,
    found: dict[str, Recipient],
) -> None:
    if not keys:
        return
    async with app.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "status", "day", "window", "account", "locale")
        rows = await pipe.execute()
    for status, b_day, b_window, account, locale in rows:
        if status != "active" or not account:
            continue
        if kind in ("day", "window") and b_day != day:
            continue
        if kind == "window" and b_window != window:
            continue
        found.setdefault(account, Recipient(account, locale or app.settings.default_locale))


def interleave(recipients: Sequence[Recipient], rates: Mapping[str, float]) -> list[Recipient]:
    """Order recipients as the channels' rates would serve them when sent side by side.

    The i-th recipient of a channel of rate r is due at i / r seconds; sorting by that spreads
    every channel over the batches in proportion to its rate, so each batch keeps every channel's
    bucket busy and a slow channel's recipients never hold a fast channel up.
    """
    seen: Counter[str] = Counter()
    keyed = []
    for recipient in sorted(recipients, key=lambda r: r.account):
        channel = recipient.account.partition(":")[0]
        keyed.append(
            (seen[channel] / rates.get(channel, DEFAULT_RATE), recipient.account, recipient)
        )
        seen[channel] += 1
    return [r for _, _, r in sorted(keyed)]


# -- creating, cancelling, watching --------------------------------------------------------------


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
    if not any(texts.get(lang, "").strip() for lang in LANGUAGES):
        raise ConfigError("a broadcast needs a text in at least one of: id, en")
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
        **{f"text_{lang}": texts.get(lang, "") for lang in LANGUAGES},
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


async def progress(app: App, broadcast_id: str) -> Progress | None:
    """The broadcast's counts, or None if there is no such broadcast."""
    fields = ("status", "total", *COUNTS, "batches", "batches_left", "finished_ms")
    try:
        values = await app.redis.hmget(BroadcastKeys(broadcast_id).meta, fields)
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not read the broadcast: {exc}") from exc
    if values[0] is None:
        return None
    row = dict(zip(fields, values, strict=True))
    numbers = {k: int(row[k] or 0) for k in ("total", *COUNTS, "batches", "batches_left")}
    return Progress(
        status=str(row["status"]),
        finished=row["finished_ms"] is not None or numbers["batches"] == 0,
        **numbers,
    )


MILESTONES = (25, 50, 75)


def progress_text(broadcast_id: str, percent: int, p: Progress) -> str:
    return (
        f"Siaran {broadcast_id}: {percent}% — {p.sent}/{p.total} terkirim, {p.failed} gagal.\n"
        f"Broadcast {broadcast_id}: {percent}% — {p.sent}/{p.total} sent, {p.failed} failed."
    )


def tally_text(broadcast_id: str, p: Progress) -> str:
    # Staff read this; both languages, like the other messages that do not know the reader's.
    ended = {"cancelled": ("dihentikan", "stopped")}.get(p.status, ("selesai", "finished"))
    return (
        f"Siaran {broadcast_id} {ended[0]}: {p.sent}/{p.total} terkirim, "
        f"{p.failed} gagal, {p.undeliverable} tidak dapat dikirim, "
        f"{p.unconfirmed} tidak pasti, {p.cancelled} dibatalkan.\n"
        f"Broadcast {broadcast_id} {ended[1]}: {p.sent}/{p.total} sent, "
        f"{p.failed} failed, {p.undeliverable} undeliverable, {p.unconfirmed} unconfirmed, "
        f"{p.cancelled} cancelled."
    )


# -- the RQ job ----------------------------------------------------------------------------------


def send_batch(broadcast_id: str, batch: int) -> str:
    """The RQ job: send one batch of a broadcast. Returns a summary (kept as the job's result)."""
    runtime = Runtime.get()
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
        texts = {lang: meta.get(f"text_{lang}", "") for lang in LANGUAGES}
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
        text = texts.get(locale) or texts.get("id") or texts.get("en") or ""
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
            if not await self._send(channel, user_id, text, locale, claim):
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

    async def _send(
        self,
        channel: Channel,
        user_id: str,
        text: str,
        locale: str,
        claim: Callable[[], Awaitable[bool]],
    ) -> bool:
        # Telegram and WhatsApp: wait for the turn in both buckets, claim, send.
        deliver_paced = getattr(channel, "deliver_paced", None)
        if deliver_paced is not None:
            return bool(
                await deliver_paced(user_id, text, locale=locale, pacer=self.pacer, claim=claim)
            )
        # A channel without pacing (the console): claim, then send.
        if not await claim():
            return False
        await channel.send(user_id, [Text(text)])
        return True

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
        await self.tell(starter, progress_text(self.id, reached, p))

    async def report(self, starter: str) -> None:
        """Record the final tally and tell the starter, if they are a chat identity."""
        p = await progress(self.app, self.id)
        if p is None:
            return
        text = tally_text(self.id, p)
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


# -- the command line ----------------------------------------------------------------------------


def run_broadcast_cli(
    settings: Settings,
    audience: str,
    text_id: str,
    text_en: str,
    *,
    starter: str = "cli",
    interval: float = 0.5,
    out: TextIO | None = None,
) -> int:
    """``antrean broadcast``: create and enqueue a broadcast, then draw its progress on stderr
    until the last batch ends (workers send it). Ctrl-C cancels what is not sent yet."""
    return asyncio.run(
        _cli(settings, audience, {"id": text_id, "en": text_en}, starter, interval, out)
    )


async def _cli(
    settings: Settings,
    audience: str,
    texts: dict[str, str],
    starter: str,
    interval: float,
    out: TextIO | None,
) -> int:
    stream = out or sys.stderr
    client, server = connect(settings)
    connection, queue_server = queue_connection(settings)
    app = App.build(settings, client)
    bid = ""
    try:
        bid = await create_broadcast(
            app, default_queue(connection), audience=audience, texts=texts, starter=starter
        )
        print(f"broadcast {bid}", file=stream)
        while True:
            p = await progress(app, bid)
            if p is None:
                print("\nthe broadcast is gone", file=stream)
                return 1
            stream.write("\r" + progress_bar(p))
            stream.flush()
            if p.finished:
                stream.write("\n")
                return 0 if p.status == "done" else 1
            await asyncio.sleep(interval)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels us; stop the workers from sending the rest.
        if bid:
            with contextlib.suppress(StorageError):
                await cancel_broadcast(app, bid)
            print(f"\nbroadcast {bid} cancelled", file=stream)
        raise
    finally:
        await client.aclose()
        connection.close()
        for embedded in (server, queue_server):
            if embedded is not None:
                release_shared_server(embedded)


def progress_bar(p: Progress, width: int = 30) -> str:
    share = p.handled / p.total if p.total else 1.0
    filled = round(width * share)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {p.handled}/{p.total}  "
        f"sent {p.sent}  failed {p.failed}  undeliverable {p.undeliverable}"
        + (f"  unconfirmed {p.unconfirmed}" if p.unconfirmed else "")
        + (f"  cancelled {p.cancelled}" if p.cancelled else "")
    )
