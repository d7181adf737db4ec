"""The booking bot's background work, as its steps ask for it (``ctx.deps.jobs``).

An interface, not a queue: the composition root wires the RQ implementation
(``workers/jobs.py``); a process without workers has none (``App.jobs is None``) and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Protocol

from bot.core.jobs import Jobs
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.booking.app import App


class EmptyAudience(ConfigError):
    """Nobody has an active booking in the audience: the broadcast is refused."""


class BookingJobs(Jobs, Protocol):
    async def tell_closed(self, office_id: str, day: date, reason: str, *, stamp: str) -> None:
        """Tell the applicants of ``day`` that the office closed it (``/close``); ``stamp``
        (the command's time) tells one closing from the next."""
        ...

    async def tell_reopened(self, office_id: str, day: date, *, stamp: str) -> None:
        """Tell those whose booking the closing cancelled that ``day`` is open again."""
        ...

    async def tell_called(self, office_id: str, day: date, booking_id: str, calls: int) -> None:
        """Tell the applicant of ``booking_id`` that their number is called to a counter (its
        ``calls``-th call), and those few numbers behind it how many are ahead of them."""
        ...

    async def tell_served(self, office_id: str, day: date, booking_id: str) -> None:
        """Thank the applicant of ``booking_id`` (served at a counter on ``day``) and invite
        them to the satisfaction survey, once."""
        ...

    async def broadcast(
        self, app: App, *, audience: str, texts: Mapping[str, str], starter: str
    ) -> str:
        """Record a broadcast to ``audience`` and queue its batches; return its id. Raises
        :class:`EmptyAudience` when nobody is in it."""
        ...
