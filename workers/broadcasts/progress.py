"""How far a broadcast got: its counts, read from its meta hash, and the texts staff get."""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.booking.app import App
from bot.core.i18n import Catalog
from bot.errors import StorageError
from bot.infra.keys import BroadcastKeys

# The outcomes a recipient may end in, each a count in the meta hash.
COUNTS = ("sent", "failed", "undeliverable", "unconfirmed", "cancelled")
# The shares of batches done at which a chat starter is told how far it got (percent).
MILESTONES = (25, 50, 75)


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


# Staff read these; every language, one line each, like the other messages that do not know the
# reader's.


def progress_text(catalog: Catalog, broadcast_id: str, percent: int, p: Progress) -> str:
    return "\n".join(
        catalog.t(
            locale,
            "staff.broadcast_progress",
            id=broadcast_id,
            percent=percent,
            sent=p.sent,
            total=p.total,
            failed=p.failed,
        )
        for locale in catalog.messages
    )


def tally_text(catalog: Catalog, broadcast_id: str, p: Progress) -> str:
    ended = "cancelled" if p.status == "cancelled" else "done"
    return "\n".join(
        catalog.t(
            locale,
            "staff.broadcast_tally",
            id=broadcast_id,
            ended=catalog.t(locale, f"staff.broadcast_ended_{ended}"),
            sent=p.sent,
            total=p.total,
            failed=p.failed,
            undeliverable=p.undeliverable,
            unconfirmed=p.unconfirmed,
            cancelled=p.cancelled,
        )
        for locale in catalog.messages
    )
