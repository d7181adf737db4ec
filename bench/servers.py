"""The bot process of the HTTP benchmarks: Antrean, or the aiogram peer, behind a Telegram webhook.

    python -m bench.servers antrean|peer PORT REDIS_URL BOT_API_BASE

Both count their own Redis round trips and report them with their CPU time at GET /bench/stats,
so the load generator can read what a turn cost inside the bot process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bench.common import bench_office, clock
from bench.peers.aiogram_fsm import build_peer
from bot.app import App
from bot.engine import Engine
from bot.pacing import Pacer
from bot.seats import SeatBook
from bot.settings import load_settings
from bot.web import build_web_app
from channels.telegram import TelegramChannel
from handlers import build_steps
from tests.counting import CountingRedis

TOKEN = "123456:AAFakeTokenForTheFakeBotApiServer000"
SECRET = "benchmark-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "bench-webhook-secret"


def stats_routes(client: CountingRedis) -> list[web.RouteDef]:
    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time(), "round_trips": client.round_trips})

    return [web.get("/bench/stats", stats)]


def antrean_app(client: CountingRedis, api_base: str, var: Path) -> web.Application:
    settings = load_settings(
        secret_key=SECRET,
        var_dir=var,
        telegram_token=TOKEN,
        telegram_api_base=api_base,
        telegram_webhook_secret=WEBHOOK_SECRET,
        rate_limit_per_minute=0,
    )
    app = App.build(settings, client, clock=clock(), office=bench_office())
    # As in production (channels/registry.py): replies count in the shared pacing buckets.
    pacer = Pacer.from_settings(settings, client, app.clock)
    channel = TelegramChannel.from_settings(settings, redis=client, pacer=pacer)
    engine = Engine(app, build_steps(), {"telegram": channel})
    web_app = build_web_app(app, engine, [channel])
    web_app.router.add_routes(stats_routes(client))
    return web_app


def peer_app(client: CountingRedis, api_base: str) -> web.Application:
    office, the_clock = bench_office(), clock()
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    bot = Bot(TOKEN, session=session)
    dispatcher, bot = build_peer(
        client,
        office,
        SeatBook(client, office.id, the_clock),
        SECRET.encode(),
        None,
        the_clock,
        bot,
    )
    web_app = web.Application()
    # Answer once the update is handled, as Antrean does, so latencies compare.
    SimpleRequestHandler(
        dispatcher, bot, secret_token=WEBHOOK_SECRET, handle_in_background=False
    ).register(web_app, path="/webhook/telegram")
    web_app.router.add_routes(stats_routes(client))

    async def close_bot(_: web.Application) -> None:
        await bot.session.close()

    web_app.on_cleanup.append(close_bot)
    return web_app


def main() -> None:
    system, port, redis_url, api_base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = CountingRedis.from_url(redis_url, decode_responses=True)
    with TemporaryDirectory() as var:
        if system == "antrean":
            application = antrean_app(client, api_base, Path(var))
        else:
            application = peer_app(client, api_base)

        async def close_redis(_: web.Application) -> None:
            await client.aclose()

        application.on_cleanup.append(close_redis)
        web.run_app(application, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
