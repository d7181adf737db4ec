"""The ``antrean`` command.

Only argparse is imported up front: ``antrean --help`` answers at once, and each subcommand
imports what it needs when it runs (aiogram, redis and pydantic take a second or more to load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import subprocess
import sys
from collections.abc import Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from bot.booking.app import App
    from bot.booking.office import Office
    from bot.core.clock import Clock
    from bot.infra.settings import Settings

log = logging.getLogger("antrean")


def build_app(
    settings: Settings,
    client: aioredis.Redis,
    *,
    clock: Clock | None = None,
    office: Office | None = None,
) -> App:
    """The app of a serving process: booking events schedule reminders on RQ. (``clock`` and
    ``office`` for the benchmark, which builds its bot process here too.)"""
    from bot.booking.app import App
    from bot.infra.embedded import release_shared_server
    from workers.queues import default_queue, queue_connection
    from workers.reminders import ReminderSchedule, RqBookingEvents

    app = App.build(settings, client, clock=clock, office=office)
    queue_conn, queue_server = queue_connection(settings)
    if queue_server is not None:
        # The embedded server is held once per process, by connect(): a second hold never
        # released would keep this process counted as a user until it exits.
        release_shared_server(queue_server)
    app.queue = default_queue(queue_conn)
    app.events = RqBookingEvents(ReminderSchedule(app.queue, app.office, app.clock))
    return app


@contextlib.contextmanager
def worker_beside(settings: Settings, enabled: bool, verbose: bool) -> Iterator[None]:
    """``--with-worker``: an ``antrean worker`` process next to this one, sharing its terminal,
    stopped with it.

    This process holds the embedded Redis server (if any) until the worker is gone, so that
    the last of the two to leave, whichever way the worker ends, is this one: it stops it.
    """
    if not enabled:
        yield
        return
    from bot.infra.embedded import release_shared_server, shared_server

    server = shared_server(settings.var_dir) if settings.redis_url is None else None
    args = [sys.executable, "-m", "bot.cli", "worker"] + ([] if verbose else ["--quiet"])
    # A process group of its own: Ctrl-C in the terminal reaches only this process, which then
    # asks the worker to stop once. RQ ignores a second signal within a second of the first, so
    # the terminal's SIGINT followed by our SIGTERM left a busy worker running until the kill.
    process = subprocess.Popen(args, process_group=0)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if server is not None:
            release_shared_server(server)


def check_can_serve(settings: Settings) -> None:
    """A production process with no channel would open the console chat on a terminal nobody
    reads, end at once and be restarted for ever: refuse, saying what is missing."""
    from bot.errors import ConfigError

    if settings.env == "production" and not (settings.telegram_token or settings.whatsapp_token):
        raise ConfigError(
            "ANTREAN_ENV=production needs a channel: set ANTREAN_TELEGRAM_TOKEN or "
            "ANTREAN_WHATSAPP_TOKEN (the console chat is for development: `antrean chat`)"
        )


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT (Ctrl-C), SIGTERM (docker stop, systemd) and SIGHUP (the terminal closed) end the
    process the same clean way."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)


async def until_stopped(read: Coroutine[Any, Any, str | None], stop: asyncio.Event) -> str | None:
    """The line ``read`` returns, or None once ``stop`` is set."""
    reading = asyncio.ensure_future(read)
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if reading in done:
        return reading.result()
    reading.cancel()
    return None


async def serve(settings: Settings) -> None:
    """Serve the web app (webhooks, health) and, in polling mode, long-poll Telegram. With no
    channel configured, chat in the terminal instead."""
    from aiohttp import web

    from bot.core.engine import Engine
    from bot.infra.embedded import release_shared_server
    from bot.infra.redis import connect
    from bot.web import build_web_app
    from channels.registry import configured_channels
    from handlers import build_steps

    check_can_serve(settings)
    if settings.telegram_token is None and settings.whatsapp_token is None:
        await chat(settings, "console:me")
        return
    client, server = connect(settings)
    stop = asyncio.Event()
    try:
        app = build_app(settings, client)
        channels = configured_channels(settings, client, app.clock)
        engine = Engine(app, build_steps(), {c.name: c for c in channels})
        web_app = build_web_app(app, engine, channels, freeze=True)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        print(
            f"Antrean serving {', '.join(c.name for c in channels)} on "
            f"http://{settings.http_host}:{settings.http_port} (Ctrl-C to stop)",
            flush=True,
        )
        stop_on_signals(stop)
        tasks = []
        if settings.telegram_mode == "polling":
            from channels.telegram import TelegramChannel

            for channel in channels:
                if isinstance(channel, TelegramChannel):
                    tasks.append(asyncio.create_task(channel.poll(engine.handle, stop)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        # Stop accepting requests, let the ones in flight finish, then close the channels.
        await runner.cleanup()
    finally:
        await client.aclose()
        if server is not None:
            release_shared_server(server)


async def telegram_admin(settings: Settings, action: str, url: str | None, drop: bool) -> None:
    from channels.telegram import TelegramChannel

    channel = TelegramChannel.from_settings(settings)
    try:
        if action == "set-webhook":
            assert url is not None
            await channel.set_webhook(url, drop_pending_updates=drop)
            print(f"webhook set to {url}")
        await channel.set_commands()
        print("command menu set (id, en)")
    finally:
        await channel.aclose()


async def chat(settings: Settings, identity: str) -> None:
    """Talk to the bot in this terminal until Ctrl-D, Ctrl-C or SIGTERM."""
    from bot.booking.console_images import QrImageCleanup
    from bot.core.engine import Engine
    from bot.errors import ConfigError
    from bot.infra.embedded import release_shared_server
    from bot.infra.logs import log_to_file
    from bot.infra.redis import connect
    from channels.console import ConsoleChannel, ConsoleSession, read_lines
    from handlers import build_steps

    channel_name, _, user_id = identity.partition(":")
    if channel_name != "console":
        raise ConfigError("--as takes a console identity, e.g. console:admin")
    # Log lines would land among the bot's messages: while chatting they go to a file.
    log_path = settings.var_dir / "antrean-chat.log"
    log_to_file(log_path)
    stop = asyncio.Event()
    stop_on_signals(stop)
    client, server = connect(settings)
    try:
        app = build_app(settings, client)
        t = functools.partial(app.catalog.t, settings.default_locale)
        images = settings.var_dir / "images"
        app.events = QrImageCleanup(app.events, app.codes, app.office.id, images)
        console = ConsoleChannel(
            image_dir=images,
            local_user=user_id,
            other_label=t("console.for_other"),
        )
        engine = Engine(app, build_steps(), {"console": console})
        session = ConsoleSession(user_id)
        print(t("console.header", office=app.office.name, log=log_path) + "\n")
        await engine.handle(session.inbound("start"))
        while (line := await until_stopped(read_lines(sys.stdin), stop)) is not None:
            await engine.handle(session.inbound(line))
        if sys.stdin.isatty():
            print()  # end the prompt's line: Ctrl-D and Ctrl-C leave the cursor on it
    finally:
        await client.aclose()
        if server is not None:
            release_shared_server(server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="antrean", description="Queue booking over WhatsApp, Telegram and the console."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="serve the configured channels; with none configured, chat in the terminal"
    )
    run.add_argument(
        "--with-worker", action="store_true", help="also start a worker (reminders, broadcasts)"
    )
    broadcast = commands.add_parser(
        "broadcast", help="send a notice to an audience and follow its progress"
    )
    broadcast.add_argument(
        "audience",
        help="day:YYYY-MM-DD, window:YYYY-MM-DD:HHMM-HHMM, or active (every active booking)",
    )
    broadcast.add_argument("--text-id", required=True, help="the text in Bahasa Indonesia")
    broadcast.add_argument("--text-en", help="the text in English (default: the Indonesian)")
    commands.add_parser(
        "demo-bookings",
        help="book today's sample applicants in the demo office and print their codes (/checkin)",
    )
    audit = commands.add_parser("audit", help="print the newest audit log entries")
    audit.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    worker = commands.add_parser("worker", help="run an RQ worker and its scheduler")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.add_argument("--quiet", action="store_true", help="log warnings only")
    telegram = commands.add_parser("telegram", help="Telegram set-up")
    telegram_cmds = telegram.add_subparsers(dest="action", required=True)
    hook = telegram_cmds.add_parser(
        "set-webhook", help="register the webhook URL (with the secret) and the command menu"
    )
    hook.add_argument("url", help="public HTTPS URL ending in /webhook/telegram")
    hook.add_argument("--drop-pending-updates", action="store_true")
    telegram_cmds.add_parser("set-commands", help="set the bot's command menu in id and en")
    chat_cmd = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat_cmd.add_argument(
        "--as",
        dest="identity",
        default="console:me",
        help="who you are, e.g. console:admin (default: console:me)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from bot.errors import AntreanError, ConfigError
    from bot.infra.logs import configure_logging
    from bot.infra.settings import IDENTITY_RE, load_settings

    configure_logging(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        settings = load_settings()
        quiet = getattr(args, "quiet", False)
        level = logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO
        configure_logging(settings.log_format, level)
        if args.command == "run":
            check_can_serve(settings)
            if not (settings.telegram_token or settings.whatsapp_token):
                # The console chat will open in this terminal: from the start (the embedded
                # Redis, the worker beside it), log lines go to the chat's log file.
                from bot.infra.logs import log_to_file

                log_to_file(settings.var_dir / "antrean-chat.log")
            with worker_beside(settings, args.with_worker, args.verbose):
                asyncio.run(serve(settings))
        elif args.command == "broadcast":
            from workers.broadcasts import run_broadcast_cli

            return run_broadcast_cli(
                settings, args.audience, args.text_id, args.text_en or args.text_id
            )
        elif args.command == "audit":
            from bot.booking.audit import print_audit

            asyncio.run(print_audit(settings, args.limit))
        elif args.command == "demo-bookings":
            from bot.booking.demo_bookings import make_demo_bookings

            return asyncio.run(make_demo_bookings(settings))
        elif args.command == "worker":
            from workers.worker import run_worker

            run_worker(settings, burst=args.burst, quiet=args.quiet)
        elif args.command == "chat":
            identity = args.identity
            if not IDENTITY_RE.match(identity):
                raise ConfigError(f"--as {identity!r}: expected an identity like console:admin")
            asyncio.run(chat(settings, identity))
        elif args.command == "telegram":
            url = getattr(args, "url", None)
            drop = getattr(args, "drop_pending_updates", False)
            asyncio.run(telegram_admin(settings, args.action, url, drop))
    except ConfigError as exc:
        print(f"antrean: {exc}", file=sys.stderr)
        return 2
    except AntreanError as exc:
        print(f"antrean: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
