"""One driver per channel for the contract test: each module here defines ``open_driver``.

A driver plays the user of one channel: it delivers what the user types or taps the way the
platform would (a webhook request, a console line) and reports what the user saw.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from bot.core.channel import Notice
from bot.core.clock import ManualClock


@dataclass
class Seen:
    """What one delivery made the user see."""

    texts: list[str] = field(default_factory=list)
    # Titles of the options offered last (buttons, list rows or numbered lines).
    options: list[str] = field(default_factory=list)
    images: int = 0
    # Whether the user was asked for their location with the platform's own control (or, on
    # the console, told how to type one).
    location_asked: bool = False

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts + self.options)


class Driver(Protocol):
    async def type(self, text: str) -> Seen:
        """The user types ``text``."""
        ...

    async def choose(self, number: int) -> Seen:
        """The user picks option ``number`` (1-based) of the latest options, the way the
        platform lets them (tapping a button, picking a list row, typing the number)."""
        ...

    async def share(self, lat: float, lon: float) -> Seen:
        """The user shares a location the way the platform lets them (Telegram's location
        message, WhatsApp's location message, ``lat,lon`` typed on the console)."""
        ...

    async def notify(self, notice: Notice) -> Seen:
        """The bot tells the user ``notice`` unprompted (the channel's ``notify``, as the
        workers call it)."""
        ...


class OpenDriver(Protocol):
    """A driver's ``open_driver``: the channel with the real dialog, on an app made with
    ``settings`` (tests/support.py make_app)."""

    def __call__(
        self, redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, **settings: Any
    ) -> AbstractAsyncContextManager[Driver]: ...


def discover() -> dict[str, OpenDriver]:
    drivers: dict[str, OpenDriver] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        drivers[info.name] = module.open_driver
    return drivers


__all__ = ["AsyncIterator", "Driver", "OpenDriver", "Seen", "discover"]
