"""What a channel is: it turns platform updates into :class:`~bot.core.messages.Inbound` messages
for the engine, and the engine's :data:`~bot.core.messages.Outbound` messages into platform calls.

Nothing outside ``channels/`` knows a platform's payloads, limits or errors: a channel translates
its library's failures into :class:`~bot.errors.ChannelError` before they leave it.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

import redis.asyncio as aioredis
from aiohttp import web

from bot.core.messages import Inbound, Outbound, Text
from bot.core.writes import Write, apply
from bot.errors import ChannelError, StorageError, Unsent

if TYPE_CHECKING:
    from bot.core.pacing import Limits, Pacer, Rate

log = logging.getLogger(__name__)

Outcome = Literal["handled", "queued", "duplicate", "busy"]
# What a channel calls for each inbound message: the engine's ``handle``.
Handle = Callable[[Inbound], Awaitable[Outcome]]
# When a chain of platform calls must be over, as a time.monotonic() value: a turn's replies,
# retries and waits included, end before it (bot/infra/settings.py ``send_budget``).
Deadline = float


def left(deadline: Deadline) -> float:
    """Seconds until ``deadline`` (negative once it has passed)."""
    return deadline - time.monotonic()


@dataclass(frozen=True)
class Notice:
    """Something the bot tells a user unprompted, outside a turn: a reminder, a closed day.

    ``text`` is the notice. ``messages``, when given, are what to show where the platform lets
    any message through (the text with a button, say); by default the text alone. A platform
    that lets only an approved template through after a while (WhatsApp's 24-hour window) sends
    ``template`` with ``params`` in ``locale`` then.
    """

    text: str
    template: str = ""
    params: tuple[str, ...] = ()
    locale: str = ""
    messages: tuple[Outbound, ...] = ()

    @property
    def body(self) -> list[Outbound]:
        """What to send where any message goes through."""
        return list(self.messages) if self.messages else [Text(self.text)]


class Channel(ABC):
    name: ClassVar[str]
    # How long the platform may deliver a message again (after an answer other than 200): the
    # engine remembers message ids that long to recognise a redelivery.
    redelivers_for: ClassVar[timedelta] = timedelta(hours=1)
    # Whether options show as buttons to tap; the console prints them for typing.
    buttons: ClassVar[bool] = True
    # The pace the platform allows (bot/core/pacing.py): messages to one recipient (a fact of
    # the platform) and, per second, for the whole bot (a default a deployment's settings may
    # change per instance). None: no bucket is kept.
    recipient_rate: ClassVar[Rate | None] = None
    rate: float | None = None

    # (recipient_rate, rate) -> limits, worked out once: asked on every send.
    _limits: tuple[tuple[Rate | None, float | None], Limits] | None = None

    @property
    def limits(self) -> Limits:
        """The rates the pacer holds this channel's sends to."""
        rates = (self.recipient_rate, self.rate)
        cached = self._limits
        if cached is None or cached[0] != rates:
            from bot.core.pacing import Limits

            cached = self._limits = (rates, Limits.of(*rates))
        return cached[1]

    @abstractmethod
    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        """Deliver the bot's answer to one user, in order."""

    async def reply(
        self, user_id: str, messages: Sequence[Outbound], *, deadline: Deadline | None = None
    ) -> list[Write]:
        """Deliver a turn's answer (the engine calls this, not :meth:`send`), and return what it
        leaves to be written with the turn's save (bot/core/writes.py): e.g. the replies' count in
        the pacing buckets, which nobody needs to wait for. Platform channels give up at
        ``deadline`` and raise :class:`Unsent`."""
        await self.send(user_id, messages)
        return []

    async def send_within(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline
    ) -> None:
        """Send outside a turn (workers call this), giving up at ``deadline`` where the channel
        can (a platform's); a local channel just sends."""
        await self.send(user_id, messages)

    async def notify(self, user_id: str, notice: Notice) -> None:
        """Tell a user something unprompted (reminders, staff notices; workers call this).
        Here: :attr:`Notice.body`, as any message. A platform that lets only templates through
        outside a reply window overrides it to send the notice's template there."""
        await self.send(user_id, notice.body)

    async def act(self, message: Inbound, *, deadline: Deadline | None = None) -> list[Write]:
        """Carry out a message of kind :data:`~bot.core.messages.ACTION` (the engine calls this once
        it has admitted the message); return the writes it leaves for the turn's save."""
        return []

    async def deliver_paced(
        self,
        user_id: str,
        text: str,
        *,
        locale: str,
        pacer: Pacer | None = None,
        claim: Callable[[], Awaitable[bool]] | None = None,
    ) -> bool:
        """Send one unprompted text (a broadcast) within the platform's pacing. ``claim`` is
        awaited right before the first send: when it answers False nothing is sent and False is
        returned. A channel without pacing (the console) claims, then sends."""
        if claim is not None and not await claim():
            return False
        await self.send(user_id, [Text(text)])
        return True

    def routes(self, handle: Handle) -> list[web.RouteDef]:
        """The HTTP routes (webhooks) this channel adds to the shared web app."""
        return []

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before the first message."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once at shutdown."""


class PacedChannel(Channel):
    """A platform's channel: its replies count in the pacing buckets every process shares
    (bot/core/pacing.py), and sending may leave writes (a paged keyboard's options) for Redis."""

    redis: aioredis.Redis | None
    pacer: Pacer | None

    @abstractmethod
    async def _send_all(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline | None = None
    ) -> list[Write]:
        """Send ``messages`` in order, every call over by ``deadline``; return the writes they
        leave."""

    async def send(
        self, user_id: str, messages: Sequence[Outbound], *, deadline: Deadline | None = None
    ) -> None:
        # Outside a turn no save carries the writes: they are made at once.
        try:
            writes = await self.reply(user_id, messages, deadline=deadline)
        except Unsent as exc:
            await self._apply(exc.writes)
            raise
        await self._apply(writes)

    async def send_within(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline
    ) -> None:
        await self.send(user_id, messages, deadline=deadline)

    async def _apply(self, writes: list[Write]) -> None:
        redis = self.redis if self.redis is not None else getattr(self.pacer, "redis", None)
        if writes and redis is not None:
            await apply(redis, writes)

    async def reply(
        self, user_id: str, messages: Sequence[Outbound], *, deadline: Deadline | None = None
    ) -> list[Write]:
        writes: list[Write] = []
        for sent, message in enumerate(messages):
            try:
                writes += await self._send_all(user_id, [message], deadline)
            except ChannelError as exc:
                # What went out is counted; the rest is the caller's (the engine's outbox).
                raise Unsent(exc, sent, writes + self._counting(user_id, sent)) from exc
        # One count for the turn's replies (a long text split in pieces counts as one).
        return writes + self._counting(user_id, len(messages))

    def _counting(self, user_id: str, count: int) -> list[Write]:
        """The writes that count ``count`` messages to ``user_id`` that go out regardless."""
        if self.pacer is None:
            return []
        return self.pacer.counting(self.name, user_id, count, self.limits)


async def deliver(handle: Handle, inbound: Inbound) -> int:
    """Hand one platform message to the engine; return the HTTP status the webhook should answer.

    200 once the message is handled, queued behind the user's previous one (durably, in Redis), or
    recognised as a redelivery. 503 when Redis is unreachable or the same message is still being
    handled elsewhere: the platform then delivers it again later, and nothing is lost.
    """
    try:
        outcome = await handle(inbound)
    except StorageError as exc:
        log.warning("Redis unavailable, asking the platform to redeliver: %s", exc)
        return 503
    return 503 if outcome == "busy" else 200
