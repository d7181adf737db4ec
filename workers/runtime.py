"""What RQ jobs need, opened once per worker process: one event loop, the app, the channels.

RQ runs jobs synchronously; our channels and Redis client are asyncio. A ``SimpleWorker`` runs
every job in one process, so one :class:`asyncio.Runner` and one set of clients serve them all
instead of reconnecting for each job.

The worker opens its :class:`Runtime` through the composition root (``bot/compose.py``, handed
in by ``antrean worker``) and installs it for the jobs it runs (:func:`installed`); a job reaches
it with :func:`current`. Nothing is built on first use: a job run outside ``antrean worker`` is
told so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from bot.booking.app import App
from bot.core.channel import Channel
from bot.errors import ConfigError

T = TypeVar("T")


class Opened(Protocol):
    """What the composition root opens for a worker (``bot.compose.Process``)."""

    @property
    def deps(self) -> App: ...
    @property
    def channels(self) -> Mapping[str, Channel]: ...


# Opens the worker's app and channels, started (a bad token fails here, loudly, once).
Open = Callable[[], AbstractAsyncContextManager[Opened]]


class Runtime:
    def __init__(self, open_app: Open) -> None:
        self.runner = asyncio.Runner()
        self._stack = AsyncExitStack()
        try:
            self._opened = self.runner.run(self._stack.enter_async_context(open_app()))
        except BaseException:
            self.runner.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def app(self) -> App:
        return self._opened.deps

    async def channels(self) -> Mapping[str, Channel]:
        return self._opened.channels

    def close(self) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self.runner.close()


_current: ContextVar[Runtime] = ContextVar("antrean_worker_runtime")


def current() -> Runtime:
    """The runtime of the worker running this job."""
    try:
        return _current.get()
    except LookupError:
        raise ConfigError(
            "Antrean's jobs run in `antrean worker`, which opens the app they use "
            "(a plain `rq worker` does not)"
        ) from None


@contextlib.contextmanager
def installed(runtime: Runtime) -> Iterator[Runtime]:
    """Make ``runtime`` the one :func:`current` returns, for as long as the block runs."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)
