"""The dependencies of a bot that needs nothing but the framework's (a base to copy for one
that needs more: the booking bot's is :class:`bot.booking.app.App`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, tzinfo
from typing import Any

import redis.asyncio as aioredis

from bot.core.clock import Clock, SystemClock
from bot.core.i18n import Catalog
from bot.core.jobs import Jobs
from bot.core.sessions import SessionStore
from bot.infra.settings import Settings


@dataclass
class Deps:
    """What the engine needs (:class:`bot.core.dialog.Services`), with the defaults: "today"
    in ``zone``, and a welcome message without parameters."""

    settings: Settings
    redis: aioredis.Redis
    clock: Clock
    sessions: SessionStore
    catalog: Catalog
    # Work for the workers (None: no workers; what a turn could not send is dropped).
    jobs: Jobs | None = None
    # Where the bot's users are: what "today" and "tomorrow" mean when they type a day.
    zone: tzinfo = UTC

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: aioredis.Redis,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        zone: tzinfo = UTC,
    ) -> Deps:
        """Wire the parts from the settings. The Redis client is the caller's."""
        sessions = SessionStore(
            redis,
            lease_ms=int(settings.lease_seconds * 1000),
            rate_limit=settings.rate_limit_per_minute,
            rate_burst=settings.rate_limit_burst,
        )
        return cls(settings, redis, clock or SystemClock(), sessions, catalog, zone=zone)

    def local_today(self) -> date:
        return self.clock.now().astimezone(self.zone).date()

    def welcome_params(self) -> dict[str, Any]:
        return {}

    def turn_label(self, data: Mapping[str, Any]) -> str:
        return ""
