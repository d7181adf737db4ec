"""Start an aiohttp application on a free loopback port for a test, like uvicorn's run_server()."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.infra.embedded import free_port


@asynccontextmanager
async def run_server(application: web.Application) -> AsyncIterator[str]:
    """Serve ``application`` on 127.0.0.1 and yield its base URL; stop it afterwards."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
