"""Who a broadcast goes to: the accounts with an active booking in an audience, in the order the
channels' rates would serve them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.booking.app import App
from bot.errors import ConfigError, StorageError
from bot.infra.keys import OfficeKeys

# Order recipients as fast channels would consume them (see ``interleave``); others go fast.
DEFAULT_RATE = 1000.0


@dataclass(frozen=True)
class Recipient:
    account: str
    locale: str


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
    pattern = OfficeKeys(app.office.id).booking("*")
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
