"""What RQ jobs need, built once per worker process: settings, one event loop, the app, channels.

RQ runs jobs synchronously; our channels and Redis client are asyncio. A ``SimpleWorker`` runs
every job in one process, so one :class:`asyncio.Runner` and one set of clients serve them all
instead of reconnecting for each job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

from bot.booking.app import App
from bot.core.channel import Channel
from bot.infra.embedded import RedisServer, release_shared_server
from bot.infra.redis import connect
from bot.infra.settings import Settings, load_settings
from channels.console import ConsoleChannel
from channels.registry import configured_channels

T = TypeVar("T")


class Runtime:
    current: ClassVar[Runtime | None] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = asyncio.Runner()
        self._app: App | None = None
        self._channels: dict[str, Channel] | None = None
        # A batch's jobs ask for the channels at once: they must be built once, not per job.
        self._building = asyncio.Lock()
        self._server: RedisServer | None = None

    @classmethod
    def get(cls) -> Runtime:
        if cls.current is None:
            cls.current = cls(load_settings())
        return cls.current

    @classmethod
    def install(cls, runtime: Runtime | None) -> None:
        cls.current = runtime

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def app(self) -> App:
        if self._app is None:
            client, self._server = connect(self.settings)
            self._app = App.build(self.settings, client)
        return self._app

    async def channels(self) -> dict[str, Channel]:
        """The configured channels, started (a bad token fails here, loudly, once)."""
        async with self._building:
            if self._channels is None:
                self._channels = await self._start_channels()
        return self._channels

    async def _start_channels(self) -> dict[str, Channel]:
        app = self.app()
        channels = configured_channels(self.settings, app.redis, app.clock)
        # Console bookings get their reminders printed where the worker's output goes: with
        # `make run` that is the terminal the chat runs in. Nobody types to the worker: each
        # message is labelled with its recipient, its options not numbered.
        label = app.catalog.t(self.settings.default_locale, "console.for_other")
        channels.append(ConsoleChannel(local_user=ConsoleChannel.NOBODY, other_label=label))
        for channel in channels:
            await channel.start()
        return {c.name: c for c in channels}

    def close(self) -> None:
        async def shutdown() -> None:
            for channel in (self._channels or {}).values():
                await channel.aclose()
            if self._app is not None:
                await self._app.redis.aclose()

        self.run(shutdown())
        self.runner.close()
        if self._server is not None:
            release_shared_server(self._server)
