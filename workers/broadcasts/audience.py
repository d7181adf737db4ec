"""Who a broadcast goes to: the accounts with an active booking in an audience, in the order the
channels' rates would serve them.

An audience is ``[@<office> | @*] active | day:<YYYY-MM-DD> | window:<YYYY-MM-DD>:<window>``: in a
network, the office whose applicants get it (``@*``: every office's); without an office, the
only office of a network of one (a network of several needs one named: :func:`scope_of`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.booking.app import App
from bot.core.clock import parse_day
from bot.errors import ConfigError, StorageError
from bot.infra.keys import OfficeKeys

# Order recipients as fast channels would consume them (see ``interleave``); others go fast.
DEFAULT_RATE = 1000.0


@dataclass(frozen=True)
class Recipient:
    account: str
    locale: str
    # The office of the booking that put the account in the audience (the first one found).
    office: str = ""


# The office part of an audience that means every office of the network.
EVERY_OFFICE = "*"


def split_office(audience: str) -> tuple[str | None, str]:
    """``@kanim-jaksel day:2030-03-05`` -> ("kanim-jaksel", "day:2030-03-05"); ``@* active`` ->
    ("*", "active"); no ``@``: (None, audience)."""
    audience = audience.strip()
    if not audience.startswith("@"):
        return None, audience
    office, _, rest = audience.partition(" ")
    return office[1:].strip().lower() or None, rest.strip()


def scope_of(app: App, audience: str) -> list[str]:
    """The ids of the offices whose applicants ``audience`` names; ConfigError for an office
    that is not in the network, or none named in a network of several."""
    office, _ = split_office(audience)
    if office is None:
        if len(app.offices) > 1:
            raise ConfigError(
                f"audience {audience!r}: name the office (@<office id>) or every office (@*)"
            )
        return [app.office.id]
    if office == EVERY_OFFICE:
        return list(app.offices)
    if office not in app.offices:
        raise ConfigError(f"audience {audience!r}: no office {office!r} in the network")
    return [office]


def per_office(recipients: Sequence[Recipient]) -> dict[str, int]:
    """How many recipients each office's bookings put in the audience (for the preview)."""
    return dict(Counter(r.office for r in recipients))


def parse_audience(audience: str) -> tuple[str, str | None, str | None]:
    """``active``, ``day:<YYYY-MM-DD>`` or ``window:<YYYY-MM-DD>:<window>`` -> kind, day, window
    (after an ``@office``, if any: :func:`split_office`)."""
    kind, _, rest = split_office(audience)[1].partition(":")
    if kind == "active" and not rest:
        return "active", None, None
    if kind == "day" and (day := parse_day(rest)) is not None:
        return "day", day.isoformat(), None
    text, _, window = rest.partition(":")
    if kind == "window" and (day := parse_day(text)) is not None and window:
        return "window", day.isoformat(), window
    raise ConfigError(
        f"audience {audience!r}: expected active, day:<YYYY-MM-DD> or window:<YYYY-MM-DD>:<window>"
    )


async def find_audience(app: App, audience: str) -> list[Recipient]:
    """Everyone with an active booking matching ``audience`` (at its offices: :func:`scope_of`),
    once per account, in no order.

    There is no per-day index of bookings, so this SCANs the booking hashes (one office's, or
    every office's in one scan); it reads them in pipelined pages and runs once per broadcast.
    """
    kind, day, window = parse_audience(audience)
    offices = scope_of(app, audience)
    # Every office's bookings in one scan rather than one scan of the keyspace per office.
    pattern = OfficeKeys(offices[0] if len(offices) == 1 else "*").booking("*")
    wanted = set(offices)
    found: dict[str, Recipient] = {}
    try:
        page: list[str] = []
        async for key in app.redis.scan_iter(match=pattern, count=1000):
            if _office_of(key) not in wanted:
                continue
            page.append(key)
            if len(page) >= 500:
                await _read_page(app, page, kind, day, window, found)
                page = []
        await _read_page(app, page, kind, day, window, found)
    except (RedisError, OSError) as exc:
        raise StorageError(f"could not read the bookings: {exc}") from exc
    return list(found.values())


def _office_of(key: str | bytes) -> str:
    """The office id in a booking key's ``{o:<office>}`` tag."""
    text = key.decode() if isinstance(key, bytes) else key
    return text.partition("{o:")[2].partition("}")[0]


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
    for key, (status, b_day, b_window, account, locale) in zip(keys, rows, strict=True):
        if status != "active" or not account:
            continue
        if kind in ("day", "window") and b_day != day:
            continue
        if kind == "window" and b_window != window:
            continue
        found.setdefault(
            account,
            Recipient(account, locale or app.settings.default_locale, _office_of(key)),
        )


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
