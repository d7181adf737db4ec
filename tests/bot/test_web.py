from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as aioredis

from bot.clock import ManualClock
from bot.embedded import free_port
from bot.web import build_web_app
from tests.support import make_app, make_engine
from tests.web_support import run_server


async def test_healthz_reports_redis(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 200 and response.json()["redis"] == "up"


async def test_healthz_is_503_when_redis_is_down(clock: ManualClock, tmp_path: Path) -> None:
    # A port nothing listens on stands for a Redis that went away.
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    app = make_app(dead, clock, tmp_path)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 503
    await dead.aclose()
