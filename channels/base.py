"""What a channel is: it turns platform updates into :class:`~bot.messages.Inbound` messages for
the engine, and the engine's :data:`~bot.messages.Outbound` messages into platform calls.

Nothing outside ``channels/`` knows a platform's payloads, limits or errors: a channel translates
its library's failures into :class:`~bot.errors.ChannelError` before they leave it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Literal

from aiohttp import web

from bot.errors import StorageError
from bot.messages import Inbound, Outbound
from bot.writes import Write

log = logging.getLogger(__name__)

Outcome = Literal["handled", "queued", "duplicate", "busy"]
# What a channel calls for each inbound message: the engine's ``handle``.
Handle = Callable[[Inbound], Awaitable[Outcome]]


class Channel(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        """Deliver the bot's answer to one user, in order."""

    async def reply(self, user_id: str, messages: Sequence[Outbound]) -> list[Write]:
        """Deliver a turn's answer (the engine calls this, not :meth:`send`), and return what it
        leaves to be written with the turn's save (bot/writes.py): e.g. the replies' count in
        the pacing buckets, which nobody needs to wait for."""
        await self.send(user_id, messages)
        return []

    def routes(self, handle: Handle) -> list[web.RouteDef]:
        """The HTTP routes (webhooks) this channel adds to the shared web app."""
        return []

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before the first message."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once at shutdown."""


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
