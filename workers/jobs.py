"""The RQ side of :class:`bot.booking.jobs.BookingJobs`: each job is the worker function itself,
not a dotted path, so a renamed job breaks at import, not in the worker.

RQ's client blocks: every enqueue runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from functools import partial
from typing import Any, TypeVar

from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.queue import EnqueueData

from bot.booking.app import App
from bot.core.outbox import CLAIM_MS
from bot.errors import StorageError
from workers import calls as calls_notices
from workers import dayend, outbox

# One job sends a user's replies one after the other, each within the send time.
OUTBOX_TIMEOUT = 600
# A job whose worker died (or that met Redis down) runs again, once the dead sender's claim on
# the outbox has expired (CLAIM_MS).
OUTBOX_RETRY_INTERVALS = [CLAIM_MS // 1000 + 5, 120, 300]

T = TypeVar("T")


class RqJobs:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        # Counter notices waiting to be queued, and the task queueing them (_notice).
        self._notices: list[tuple[EnqueueData, asyncio.Future[None]]] = []
        self._notifying: asyncio.Task[None] | None = None

    async def send_outbox(self, identity: str, *, wait: float = 0.0, token: str = "") -> None:
        retry = Retry(3, OUTBOX_RETRY_INTERVALS)
        args = (identity, token)
        options: dict[str, Any] = {"result_ttl": 0, "job_timeout": OUTBOX_TIMEOUT, "retry": retry}

        def enqueue() -> None:
            if wait > 0:
                # RQ keeps a scheduled time in whole seconds, truncated: one more, never early.
                later = timedelta(seconds=math.ceil(wait) + 1)
                self.queue.enqueue_in(later, outbox.send_outbox, *args, **options)
            else:
                self.queue.enqueue(outbox.send_outbox, *args, **options)

        await self._run(enqueue)

    async def tell_closed(self, office_id: str, day: date, reason: str, *, stamp: str) -> None:
        await self._day_job(dayend.notify_closed, "notify_closed", office_id, day, stamp, reason)

    async def tell_reopened(self, office_id: str, day: date, *, stamp: str) -> None:
        await self._day_job(dayend.notify_reopened, "notify_reopened", office_id, day, stamp)

    async def tell_called(self, office_id: str, day: date, booking_id: str, calls: int) -> None:
        # Hundreds of calls a day: results are not kept (the sent-markers say who was told).
        await self._notice(
            calls_notices.tell_called,
            (office_id, day.isoformat(), booking_id, str(calls)),
            job_id=f"tell_called-{office_id}-{booking_id}-{calls}",
            description=f"call notices: {booking_id}",
        )

    async def tell_served(self, office_id: str, day: date, booking_id: str) -> None:
        await self._notice(
            calls_notices.tell_served,
            (office_id, day.isoformat(), booking_id),
            job_id=f"tell_served-{office_id}-{booking_id}",
            description=f"survey invitation: {booking_id}",
        )

    async def _notice(
        self, func: Callable[..., Any], args: tuple[str, ...], *, job_id: str, description: str
    ) -> None:
        """Queue a counter notice job: one per job id (queued twice, it runs once), retried
        three times, its failures kept a week. Returns once it is queued.

        Twenty counters at work make notices faster than one thread can queue them one by one
        (about 0.6 ms of CPU each in RQ): the notices asked for while a batch is being queued
        go together in the next one, in one pipeline (``enqueue_many``, about 0.2 ms each)."""
        data = Queue.prepare_data(
            func,
            args,
            job_id=job_id,
            result_ttl=0,
            failure_ttl=7 * 24 * 3600,
            retry=Retry(3, [5, 30, 120]),
            description=description,
        )
        queued = asyncio.get_running_loop().create_future()
        self._notices.append((data, queued))
        if self._notifying is None or self._notifying.done():
            self._notifying = asyncio.create_task(self._queue_notices())
        await queued

    async def _queue_notices(self) -> None:
        """Queue the waiting notices, batch after batch; every caller of a batch gets its
        outcome, whatever it is (a caller is never left waiting, even if this task is
        cancelled)."""
        batch: list[tuple[EnqueueData, asyncio.Future[None]]] = []
        try:
            while self._notices:
                batch, self._notices = self._notices, []
                try:
                    await self._run(partial(self.queue.enqueue_many, [d for d, _ in batch]))
                except Exception as exc:  # handed to each caller of the batch
                    for _, queued in batch:
                        if not queued.done():
                            queued.set_exception(exc)
                else:
                    for _, queued in batch:
                        if not queued.done():
                            queued.set_result(None)
        finally:
            left, self._notices = [*batch, *self._notices], []
            for _, queued in left:
                queued.cancel()  # a no-op for those already answered

    async def broadcast(
        self, app: App, *, audience: str, texts: Mapping[str, str], starter: str
    ) -> str:
        from workers.broadcasts import create_broadcast

        return await create_broadcast(
            app, self.queue, audience=audience, texts=texts, starter=starter
        )

    async def waiting(self) -> int:
        """How many jobs wait in the queue (the ``/metrics`` gauge)."""
        return await self._run(lambda: self.queue.count)

    async def _day_job(
        self, job: Callable[..., Any], name: str, office_id: str, day: date, stamp: str, *args: str
    ) -> None:
        def enqueue() -> None:
            self.queue.enqueue(
                job,
                office_id,
                day.isoformat(),
                *args,
                job_id=f"{name}-{office_id}-{day.isoformat()}-{stamp}",
                result_ttl=7 * 24 * 3600,
                failure_ttl=30 * 24 * 3600,
                description=f"{name.replace('_', ' ')}: {day}",
            )

        await self._run(enqueue)

    @staticmethod
    async def _run(call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except (RedisError, OSError) as exc:
            raise StorageError(f"job queue: {exc}") from exc
