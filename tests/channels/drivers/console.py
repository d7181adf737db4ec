"""The console channel's driver: lines in, rendered text out, as in ``antrean chat``."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.core.channel import Notice
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from channels.console import ConsoleChannel, ConsoleSession
from handlers import build_steps
from tests.channels.drivers import Seen
from tests.support import make_app


class ConsoleDriver:
    def __init__(
        self,
        engine: Engine,
        output: io.StringIO,
        image_dir: Path,
        console: ConsoleChannel | None = None,
    ) -> None:
        self.engine = engine
        self.console = console
        self.output = output
        self.image_dir = image_dir
        self.session = ConsoleSession("tester")

    async def type(self, text: str) -> Seen:
        return await self._printed(self.engine.handle(self.session.inbound(text)))

    async def share(self, lat: float, lon: float) -> Seen:
        return await self.type(f"{lat},{lon}")

    async def notify(self, notice: Notice) -> Seen:
        assert self.console is not None, "a driver opened without its channel"
        return await self._printed(self.console.notify(self.session.user_id, notice))

    async def _printed(self, doing: Awaitable[object]) -> Seen:
        """What the console printed while ``doing`` ran."""
        start = self.output.tell()
        images_before = len(list(self.image_dir.glob("*.png")))
        await doing
        self.output.seek(start)
        printed = self.output.read()
        seen = Seen(images=len(list(self.image_dir.glob("*.png"))) - images_before)
        for block in printed.split("\n\n"):
            lines = block.strip().splitlines()
            if not lines:
                continue
            numbered = [ln.strip() for ln in lines[1:] if ln.strip()[:1].isdigit()]
            if numbered:
                seen.texts.append(lines[0])
                seen.options = [ln.split(". ", 1)[1] for ln in numbered]
            else:
                seen.texts.append(block.strip())
            if "lintang,bujur" in block or "latitude,longitude" in block:
                seen.location_asked = True
        return seen

    async def choose(self, number: int) -> Seen:
        return await self.type(str(number))


@asynccontextmanager
async def open_driver(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, **settings: Any
) -> AsyncIterator[ConsoleDriver]:
    output = io.StringIO()
    image_dir = tmp_path / "images"
    console = ConsoleChannel(output=output, image_dir=image_dir)
    engine = Engine(
        make_app(redis, clock, tmp_path, **settings), build_steps(), {"console": console}
    )
    yield ConsoleDriver(engine, output, image_dir, console)
