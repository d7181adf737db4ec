"""What a channel is: it turns platform updates into :class:`~bot.messages.Inbound` messages for
the engine, and the engine's :data:`~bot.messages.Outbound` messages into platform calls.

Nothing outside ``channels/`` knows a platform's payloads, limits or errors: a channel translates
its library's failures into :class:`~bot.errors.ChannelError` before they leave it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from bot.messages import Outbound


class Channel(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        """Deliver the bot's answer to one user, in order."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before the first message."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once at shutdown."""
