"""Every error Antrean raises derives from :class:`AntreanError`.

    AntreanError
    ├── ConfigError            a setting or the office file is wrong (start-up)
    ├── StorageError           Redis is unreachable or answered unexpectedly
    ├── SessionError
    │   └── SessionLost        our lease expired and another process took over
    ├── (the booking domain's errors: bot/booking/errors.py)
    ├── InvalidInput           text from a user that a step cannot accept (has a catalog key)
    └── ChannelError           a platform refused or failed a call (translated at the channel)
        └── Unsent             some of a turn's replies did not go out by its deadline

Third-party errors (redis-py, httpx, aiogram) are translated at the boundary (``raise ... from``).
"""

from __future__ import annotations

from typing import Any


class AntreanError(Exception):
    """Root of every error raised by Antrean."""


class ConfigError(AntreanError):
    """A setting or the office configuration is invalid."""


class StorageError(AntreanError):
    """Redis could not be reached or answered something unexpected."""


class SessionError(AntreanError):
    """A session could not be loaded or saved."""


class SessionLost(SessionError):
    """Our lease on a session expired and another holder took it over."""


class InvalidInput(AntreanError):
    """User text a step cannot accept. ``key`` names the catalog message that explains why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class ChannelError(AntreanError):
    """A messaging platform refused or failed a call."""

    def __init__(self, message: str, *, retry_after: float | None = None, code: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code


# ChannelError codes of a call that may succeed later (the outbox sends it again then).
RETRYABLE = frozenset({"timeout", "rate_limited", "unavailable", "network", "130429", "131056",
                       "131000"})  # fmt: skip


class Unsent(ChannelError):
    """Some of a turn's replies did not go out: the first ``sent`` did, the rest did not (the
    cause is the ChannelError of the first that failed). ``writes`` (bot/core/writes.py) are those
    the sent replies left for the turn's save."""

    def __init__(self, cause: ChannelError, sent: int, writes: list[Any]) -> None:
        super().__init__(str(cause), retry_after=cause.retry_after, code=cause.code)
        self.sent = sent
        self.writes = writes

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE
