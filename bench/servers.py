"""The bot process of the HTTP benchmarks: Antrean, or the aiogram peer, behind a Telegram webhook.

    python -m bench.servers antrean|peer PORT REDIS_URL BOT_API_BASE [--graph-api-base URL]
        [--office PATH] [--shipped] [--floor]

Both count their own Redis round trips and report them with their CPU time at GET /bench/stats,
so the load generator can read what a turn cost inside the bot process. Both run on a
:class:`BenchClock`, a :class:`~bot.core.clock.ManualClock` standing still at ``bench.common.START``
until POST /bench/clock (``{"at": "<ISO 8601 instant>", "running": true|false}``) moves it, so
that a load generator can move the time of every process at once (the burst benchmark opens a
day's quota that way); ``running`` lets it go on at the pace of real time from there.

Antrean only: ``--graph-api-base`` also serves WhatsApp (its webhook route, signed with
:data:`WHATSAPP_APP_SECRET`, the replies going to a fake Graph API at that base URL); ``--office``
reads the office from a TOML file instead of ``bench.common.BENCH_OFFICE``; ``--offices`` serves a
network, a folder of office files (``ANTREAN_OFFICES``); ``--shipped`` builds it as ``antrean run``
does; ``--floor`` strips the session's scripts of their guarantees (bench/floor.py, a
counterfactual for BENCHMARKS.md). A ``redis-cluster://`` REDIS_URL gets the
production cluster client (bot/infra/redis.py), whose round trips are not counted (0 in the
stats).
"""

from __future__ import annotations

import argparse
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, SendMessage, SendPhoto
from aiogram.methods.base import Response
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bench.common import bench_office, clock
from bench.floor import strip_to_floor
from bench.peers.aiogram_fsm import build_peer
from bot.booking.app import App
from bot.booking.office import Office, load_office
from bot.booking.seats import SeatBook
from bot.compose import open_app
from bot.core.channel import Channel
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from bot.core.pacing import Pacer
from bot.infra.redis import (
    client_for,
    parse_url,
    production_options,
)
from bot.infra.settings import load_settings
from bot.web import build_web_app
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from handlers import build_steps
from tests.counting import CountingRedis

TOKEN = "123456:AAFakeTokenForTheFakeBotApiServer000"
SECRET = "benchmark-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "bench-webhook-secret"
# The WhatsApp side (only with --graph-api-base): what the fake Graph API must expect.
WHATSAPP_TOKEN = "bench-graph-token"
WHATSAPP_PHONE_NUMBER_ID = "1234567890"
WHATSAPP_APP_SECRET = "bench-app-secret"
WHATSAPP_VERIFY_TOKEN = "bench-verify-token"


class BenchClock(ManualClock):
    """A manual clock that can also run: from :meth:`run_from` on it moves with real time (so
    leases and holds expire as they would in production), from :meth:`set` on it stands still."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._since: float | None = None

    def now(self) -> datetime:
        if self._since is None:
            return super().now()
        return super().now() + timedelta(seconds=time.monotonic() - self._since)

    def set(self, when: datetime) -> None:
        super().set(when)
        self._since = None

    def run_from(self, when: datetime) -> None:
        super().set(when)
        self._since = time.monotonic()


def bench_clock() -> BenchClock:
    return BenchClock(clock().now())


def stats_routes(client: aioredis.Redis, the_clock: BenchClock) -> list[web.RouteDef]:
    async def stats(_: web.Request) -> web.Response:
        # A cluster client does not count its round trips: 0.
        round_trips = getattr(client, "round_trips", 0)
        return web.json_response({"cpu": time.process_time(), "round_trips": round_trips})

    async def move_clock(request: web.Request) -> web.Response:
        body = await request.json()
        when = datetime.fromisoformat(str(body["at"]))
        if when.tzinfo is None:
            return web.json_response({"error": "the instant needs a UTC offset"}, status=400)
        if body.get("running"):
            the_clock.run_from(when)
        else:
            the_clock.set(when)
        return web.json_response({"now": the_clock.now().isoformat()})

    return [web.get("/bench/stats", stats), web.post("/bench/clock", move_clock)]


async def antrean_app(
    client: aioredis.Redis,
    redis_url: str,
    api_base: str,
    var: Path,
    graph_api_base: str | None = None,
    office: Office | None = None,
    shipped: bool = False,
    offices: Path | None = None,
    floor: bool = False,
) -> web.Application:
    """Antrean's web app as ``antrean run`` builds it. ``shipped``: built by the same code
    (bot/compose.py ``open_app(settings, "run")``: settings' defaults, the rate limit on,
    reminders on the due list in the same Redis, the web app frozen); without, the rate limit is
    off (the burst, whose scalpers retype on purpose). ``offices``: a network's folder of office
    files, read as ``antrean run`` reads ``ANTREAN_OFFICES`` (instead of ``office``). ``floor``:
    the session's scripts stripped of every guarantee (bench/floor.py), a counterfactual."""
    whatsapp: dict[str, object] = {}
    if graph_api_base is not None:
        whatsapp = {
            "whatsapp_token": WHATSAPP_TOKEN,
            "whatsapp_phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
            "whatsapp_app_secret": WHATSAPP_APP_SECRET,
            "whatsapp_verify_token": WHATSAPP_VERIFY_TOKEN,
            "whatsapp_api_base": graph_api_base,
        }
    settings = load_settings(
        secret_key=SECRET,
        var_dir=var,
        telegram_token=TOKEN,
        telegram_api_base=api_base,
        telegram_webhook_secret=WEBHOOK_SECRET,
        redis_url=redis_url,
        **({} if offices is None else {"offices": offices}),
        **({} if shipped else {"rate_limit_per_minute": 0}),
        **whatsapp,
    )
    the_clock = bench_clock()
    if offices is None:
        office = office or bench_office()
    if shipped:
        stack = AsyncExitStack()
        process = await stack.enter_async_context(
            open_app(settings, "run", redis=client, clock=the_clock, office=office)
        )
        assert process.web is not None
        web_app = process.web
        if floor:
            strip_to_floor(process.deps.sessions)

        async def close(_: web.Application) -> None:
            await stack.aclose()

        web_app.on_cleanup.append(close)
    else:
        # office None: the network of the settings' folder.
        app = App.build(settings, client, clock=the_clock, office=office)
        if floor:
            strip_to_floor(app.sessions)
        # As in production (channels/registry.py): replies count in the shared pacing buckets.
        pacer = Pacer.from_settings(settings, client, app.clock)
        channels: list[Channel] = [
            TelegramChannel.from_settings(settings, redis=client, pacer=pacer)
        ]
        if graph_api_base is not None:
            channels.append(WhatsAppChannel.from_settings(settings, client, app.clock, pacer=pacer))
        engine = Engine(app, build_steps(), {channel.name: channel for channel in channels})
        web_app = build_web_app(app, engine, channels, freeze=True)  # as `antrean run` does
    web_app.router.add_routes(stats_routes(client, the_clock))
    return web_app


# The peer with Antrean's work-around for pydantic's weak cache of generic models, which makes
# aiogram rebuild Response[Message] and the like after each garbage collection (see
# channels/telegram/session.py): the same bot, minus that cost.
_PINNED: list[type] = []


def pin_response_models() -> None:
    methods = (SendMessage, SendPhoto, EditMessageReplyMarkup, AnswerCallbackQuery)
    _PINNED.extend(Response[m.__returning__] for m in methods)  # type: ignore[name-defined]


def peer_app(client: CountingRedis, api_base: str, pinned: bool = False) -> web.Application:
    if pinned:
        pin_response_models()
    office, the_clock = bench_office(), bench_clock()
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
    web_app.router.add_routes(stats_routes(client, the_clock))

    async def close_bot(_: web.Application) -> None:
        await bot.session.close()

    web_app.on_cleanup.append(close_bot)
    return web_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("system", choices=("antrean", "peer", "peer-pinned"))
    parser.add_argument("port", type=int)
    parser.add_argument("redis_url")
    parser.add_argument("api_base", help="the (fake) Telegram Bot API's base URL")
    parser.add_argument(
        "--graph-api-base",
        default=None,
        help="antrean only: serve WhatsApp too, replying to the (fake) Graph API at this URL",
    )
    parser.add_argument(
        "--office",
        type=Path,
        default=None,
        help="antrean only: the office TOML file (default: bench.common.BENCH_OFFICE)",
    )
    parser.add_argument(
        "--offices",
        type=Path,
        default=None,
        help="antrean only: a network, a folder of office files (as ANTREAN_OFFICES)",
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="antrean only: the rate limit on and reminders on the due list, as antrean run has",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="antrean only: the session's scripts without their guarantees (bench/floor.py)",
    )
    args = parser.parse_args(argv)
    if args.system != "antrean" and (
        args.graph_api_base or args.office or args.offices or args.floor
    ):
        parser.error("--graph-api-base, --office, --offices and --floor are for antrean only")
    if args.office and args.offices:
        parser.error("--office (one office file) or --offices (a folder of them), not both")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    client: aioredis.Redis
    if args.system == "antrean" and parse_url(args.redis_url).kind == "cluster":
        # The production cluster client, as bot.infra.redis.connect() makes it.
        client = client_for(args.redis_url, **production_options())
    elif args.system == "antrean":
        # The client bot.infra.redis.connect() makes in production, counting its round trips.
        client = CountingRedis.from_pool(
            client_for(args.redis_url, **production_options()).connection_pool
        )
    else:
        # As an aiogram bot gets it from RedisStorage.from_url(): redis-py's default pool.
        client = CountingRedis.from_url(args.redis_url, decode_responses=True)
    with TemporaryDirectory() as var:

        async def application() -> web.Application:
            if args.system == "antrean":
                office = load_office(args.office) if args.office is not None else None
                built = await antrean_app(
                    client,
                    args.redis_url,
                    args.api_base,
                    Path(var),
                    args.graph_api_base,
                    office,
                    shipped=args.shipped,
                    offices=args.offices,
                    floor=args.floor,
                )
            else:
                assert isinstance(client, CountingRedis)
                built = peer_app(client, args.api_base, pinned=args.system == "peer-pinned")

            async def close_redis(_: web.Application) -> None:
                await client.aclose()

            built.on_cleanup.append(close_redis)
            return built

        web.run_app(application(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
