"""The composition root: the one place that builds an Antrean process from its settings.

Every entry point opens its process here, by role (``antrean run``, ``chat``, ``worker``, and
the one-shot tools ``broadcast``, ``audit`` and ``demo-bookings``), and gets back the same
objects built the same way:

- the Redis client (``ANTREAN_REDIS_URL``, else the checkout's embedded server, held for as long
  as the process is open);
- the booking bot's dependencies (:class:`~bot.booking.app.App`), with its jobs on RQ
  (:class:`~workers.jobs.RqJobs`); bookings get reminders except in one-shot tools;
- the channels the role talks on, and for ``run`` and ``chat`` the engine over the booking
  steps; for ``run`` also the web app (webhooks, health, metrics).

Leaving the ``async with`` closes all of it, in reverse order, whichever way it is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from aiohttp import web

    from bot.booking.app import App
    from bot.booking.office import Office
    from bot.core.channel import Channel
    from bot.core.clock import Clock
    from bot.core.engine import Engine
    from bot.infra.pubsub import Subscription
    from bot.infra.settings import Settings
    from workers.jobs import RqJobs

# run: serve the configured channels (webhooks, polling). chat: the console in this terminal.
# worker: RQ jobs, with every channel to send on. tool: a one-shot command (no channel).
Role = Literal["run", "chat", "worker", "tool"]
ROLES: tuple[Role, ...] = ("run", "chat", "worker", "tool")


@dataclass
class Process:
    """What :func:`open_app` opens: one process's objects, built once."""

    settings: Settings
    role: Role
    deps: App
    jobs: RqJobs
    channels: dict[str, Channel] = field(default_factory=dict)
    # run and chat: the engine over the booking steps and the channels above.
    engine: Engine | None = None
    # run: the web app to serve (it starts and closes the channels with itself).
    web: web.Application | None = None


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    role: Role,
    *,
    user: str = "me",
    redis: aioredis.Redis | None = None,
    clock: Clock | None = None,
    office: Office | None = None,
) -> AsyncIterator[Process]:
    """Open the process of ``role``. ``user``: who types in the console (``chat``). ``redis``,
    ``clock``, ``office``: given instead of built from the settings (the benchmark's counting
    client and fixed clock; tests); a given client is the caller's to close."""
    from bot.booking.app import App
    from bot.infra.embedded import release_shared_server
    from bot.infra.redis import connect
    from workers.jobs import RqJobs
    from workers.queues import default_queue, queue_connection

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    async with contextlib.AsyncExitStack() as stack:
        if redis is None:
            redis, server = connect(settings)
            if server is not None:
                stack.callback(release_shared_server, server)
            stack.push_async_callback(redis.aclose)
        queue_conn, queue_server = queue_connection(settings)
        if queue_server is not None:
            # The embedded server is held once per process (above, or by whoever gave us the
            # client): a second hold never released would keep this process counted as a user
            # until it exits.
            release_shared_server(queue_server)
        stack.callback(queue_conn.close)
        jobs = RqJobs(default_queue(queue_conn))
        deps = App.build(settings, redis, clock=clock, office=office)
        deps.jobs = jobs
        for services in deps.offices.values():
            services.desk.jobs = jobs  # the chat notices of calls to a counter
        # Bookings get their reminders on the office's due list, which workers send from. One-shot
        # tools change sample bookings only: ``demo-bookings`` gives nobody a reminder.
        deps.reminders = role != "tool"
        process = Process(settings, role, deps, jobs)
        if role in ("run", "chat"):
            # Conversations show seats from the process's snapshot, kept by one subscription.
            subscription = seat_subscription(deps)
            subscription.start()
            stack.push_async_callback(subscription.stop)
        if role == "run":
            _open_run(process)
        elif role == "chat":
            _open_chat(process, user)
        elif role == "worker":
            await _open_worker(process, stack)
        yield process


def seat_subscription(deps: App) -> Subscription:
    """The subscription that keeps ``deps.snapshot`` current (not started)."""
    from bot.infra.keys import SEATS_CHANNEL
    from bot.infra.pubsub import Subscription

    snapshot = deps.snapshot
    return Subscription(
        deps.redis, SEATS_CHANNEL, on_message=snapshot.on_message, on_live=snapshot.set_live
    )


def _open_run(process: Process) -> None:
    from bot.core.engine import Engine
    from bot.web import build_web_app
    from channels.registry import configured_channels
    from handlers import build_steps

    deps = process.deps
    channels = configured_channels(process.settings, deps.redis, deps.clock)
    process.channels = {c.name: c for c in channels}
    process.engine = Engine(deps, build_steps(), process.channels)
    # The web app starts the channels when it starts serving, and closes them when it stops.
    process.web = build_web_app(deps, process.engine, channels, jobs=process.jobs, freeze=True)


def _open_chat(process: Process, user: str) -> None:
    from bot.booking.console_images import QrImageCleanup
    from bot.core.engine import Engine
    from channels.console import ConsoleChannel
    from handlers import build_steps

    deps, settings = process.deps, process.settings
    images = settings.var_dir / "images"
    for services in deps.offices.values():
        # Each office's codes name their office: each desk gets its own cleanup.
        desk = services.desk
        desk.events = QrImageCleanup(desk.events, deps.codes, services.office.id, images)
    console = ConsoleChannel(
        image_dir=images,
        local_user=user,
        other_label=deps.catalog.t(settings.default_locale, "console.for_other"),
    )
    process.channels = {"console": console}
    process.engine = Engine(deps, build_steps(), process.channels)


async def _open_worker(process: Process, stack: contextlib.AsyncExitStack) -> None:
    from channels.console import ConsoleChannel
    from channels.registry import configured_channels

    deps, settings = process.deps, process.settings
    channels = configured_channels(settings, deps.redis, deps.clock)
    # Console bookings get their reminders printed where the worker's output goes: with
    # `make run` that is the terminal the chat runs in. Nobody types to the worker: each
    # message is labelled with its recipient, its options not numbered.
    label = deps.catalog.t(settings.default_locale, "console.for_other")
    channels.append(ConsoleChannel(local_user=ConsoleChannel.NOBODY, other_label=label))
    for channel in channels:
        # Started now: a bad token fails here, loudly, once, not in the first job.
        await channel.start()
        stack.push_async_callback(channel.aclose)
    process.channels = {c.name: c for c in channels}
