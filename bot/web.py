"""The web app every ``antrean run`` process serves: a health check and each channel's webhook.

Several processes may serve the same bot at once: all state is in Redis, and the engine's
per-user lease keeps one user's messages in order whichever process receives them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web
from redis.exceptions import RedisError

from bot.app import App
from bot.engine import Engine
from channels.base import Channel

log = logging.getLogger(__name__)

APP_KEY = web.AppKey("antrean", App)
ENGINE_KEY = web.AppKey("engine", Engine)


async def healthz(request: web.Request) -> web.Response:
    """200 when Redis answers, else 503 (so a load balancer stops sending us traffic)."""
    app = request.app[APP_KEY]
    try:
        await app.redis.ping()
    except (RedisError, OSError) as exc:
        log.warning("health check: Redis unreachable: %s", exc)
        return web.json_response({"status": "unavailable", "redis": "down"}, status=503)
    return web.json_response({"status": "ok", "redis": "up"})


def build_web_app(app: App, engine: Engine, channels: Sequence[Channel]) -> web.Application:
    web_app = web.Application(client_max_size=4 * 1024 * 1024)
    web_app[APP_KEY] = app
    web_app[ENGINE_KEY] = engine
    web_app.router.add_get("/healthz", healthz)
    for channel in channels:
        web_app.router.add_routes(channel.routes(engine.handle))

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        for channel in channels:
            await channel.start()
        yield
        for channel in channels:
            await channel.aclose()

    web_app.cleanup_ctx.append(lifecycle)
    return web_app
