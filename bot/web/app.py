"""The web app every ``antrean run`` process serves: a health check, each channel's webhook, the
staff pages under ``/staff`` (:mod:`bot.web.staff`) and the waiting-room displays under
``/display`` (:mod:`bot.web.display`).

Several processes may serve the same bot at once: all state is in Redis, and the engine's
per-user lease keeps one user's messages in order whichever process receives them.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from bot.booking.app import App
from bot.booking.availability import report_seats_left
from bot.core.channel import Channel
from bot.core.engine import Engine
from bot.errors import StorageError
from bot.infra.metrics import QUEUE_DEPTH
from bot.web.counter import add_counter_routes
from bot.web.display import add_display_routes
from bot.web.ikm import add_ikm_routes
from bot.web.staff import PREFIX as STAFF_PREFIX
from bot.web.staff import staff_app
from workers.jobs import RqJobs

log = logging.getLogger(__name__)

APP_KEY = web.AppKey("antrean", App)
ENGINE_KEY = web.AppKey("engine", Engine)
JOBS_KEY = web.AppKey("jobs", RqJobs)


async def healthz(request: web.Request) -> web.Response:
    """200 when Redis answers, else 503 (so a load balancer stops sending us traffic)."""
    app = request.app[APP_KEY]
    try:
        await app.redis.ping()
    except (RedisError, OSError) as exc:
        log.warning("health check: Redis unreachable: %s", exc)
        return web.json_response({"status": "unavailable", "redis": "down"}, status=503)
    return web.json_response({"status": "ok", "redis": "up"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition. Seats left and queue depth are read from Redis now, so every
    process reports the same figures for them: the seats of every office in one pipelined
    round trip, however many offices."""
    app = request.app[APP_KEY]
    try:
        await report_seats_left(
            app.redis, [(s.office, s.seats) for s in app.offices.values()], app.clock.now()
        )
        jobs = request.app.get(JOBS_KEY)
        if jobs is not None:
            QUEUE_DEPTH.set(await jobs.waiting())
    except (StorageError, RedisError, OSError) as exc:
        log.warning("metrics: Redis unreachable, serving the counters only: %s", exc)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def freeze_heap(_: web.Application) -> None:
    """Once serving starts, leave what start-up built (modules, aiogram's and pydantic's models:
    hundreds of thousands of objects that live as long as the process) out of the garbage
    collector's full passes, which otherwise walk all of them and pause every request."""
    gc.collect()
    gc.freeze()


def build_web_app(
    app: App,
    engine: Engine,
    channels: Sequence[Channel],
    *,
    jobs: RqJobs | None = None,
    freeze: bool = False,
) -> web.Application:
    """The web app of ``antrean run`` (bot/compose.py); ``jobs``: the queue whose depth
    ``/metrics`` reports."""
    web_app = web.Application(client_max_size=4 * 1024 * 1024)
    web_app[APP_KEY] = app
    web_app[ENGINE_KEY] = engine
    if jobs is not None:
        web_app[JOBS_KEY] = jobs
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    for channel in channels:
        web_app.router.add_routes(channel.routes(engine.handle))
    staff = staff_app(app)
    add_counter_routes(staff)
    add_ikm_routes(staff)
    web_app.add_subapp(STAFF_PREFIX, staff)
    add_display_routes(web_app, app)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        for channel in channels:
            await channel.start()
        yield
        for channel in channels:
            await channel.aclose()

    web_app.cleanup_ctx.append(lifecycle)
    if freeze:
        web_app.on_startup.append(freeze_heap)
    return web_app
