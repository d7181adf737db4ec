"""Work a bot hands to its background workers.

The framework asks for one job: send a user's outbox later (bot/core/outbox.py). A bot adds its
own (the booking bot's are in :mod:`bot.booking.jobs`). Steps and the engine ask for work through
this interface; which queue runs it (RQ in Antrean: ``workers/jobs.py``) is the composition
root's choice, so nothing here names a job by an import path.
"""

from __future__ import annotations

from typing import Protocol


class Jobs(Protocol):
    async def send_outbox(self, identity: str, *, wait: float = 0.0, token: str = "") -> None:
        """Have a worker send ``identity``'s outbox after ``wait`` seconds, as the holder of the
        outbox claim ``token`` if given. Raises :class:`~bot.errors.StorageError` when the
        queue is unreachable (the entries stay; the user's next turn asks again)."""
        ...
