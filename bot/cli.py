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
    from bot.infra.settings import Settings

log = logging.getLogger("antrean")


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

    from bot.compose import open_app

    check_can_serve(settings)
    if settings.telegram_token is None and settings.whatsapp_token is None:
        await chat(settings, "console:me")
        return
    stop = asyncio.Event()
    async with open_app(settings, "run") as process:
        assert process.web is not None and process.engine is not None
        runner = web.AppRunner(process.web, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        print(
            f"Antrean serving {', '.join(process.channels)} on "
            f"http://{settings.http_host}:{settings.http_port} (Ctrl-C to stop)",
            flush=True,
        )
        stop_on_signals(stop)
        tasks = []
        if settings.telegram_mode == "polling":
            from channels.telegram import TelegramChannel

            for channel in process.channels.values():
                if isinstance(channel, TelegramChannel):
                    tasks.append(asyncio.create_task(channel.poll(process.engine.handle, stop)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        # Stop accepting requests, let the ones in flight finish, then close the channels.
        await runner.cleanup()


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
    from bot.compose import open_app
    from bot.errors import ConfigError
    from bot.infra.logs import log_to_file
    from channels.console import ConsoleSession, read_lines

    channel_name, _, user_id = identity.partition(":")
    if channel_name != "console":
        raise ConfigError("--as takes a console identity, e.g. console:admin")
    # Log lines would land among the bot's messages: while chatting they go to a file.
    log_path = settings.var_dir / "antrean-chat.log"
    log_to_file(log_path)
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with open_app(settings, "chat", user=user_id) as process:
        engine, deps = process.engine, process.deps
        assert engine is not None
        t = functools.partial(deps.catalog.t, settings.default_locale)
        session = ConsoleSession(user_id)
        print(t("console.header", office=deps.office.name, log=log_path) + "\n")
        await engine.handle(session.inbound("start"))
        while (line := await until_stopped(read_lines(sys.stdin), stop)) is not None:
            await engine.handle(session.inbound(line))
        if sys.stdin.isatty():
            print()  # end the prompt's line: Ctrl-D and Ctrl-C leave the cursor on it


async def audit(settings: Settings, limit: int) -> None:
    from bot.booking.audit import print_audit
    from bot.compose import open_app

    async with open_app(settings, "tool") as process:
        await print_audit(process.deps.audit, process.deps.office.tz, limit)


async def demo_bookings(settings: Settings) -> int:
    from bot.booking.demo_bookings import make_demo_bookings
    from bot.compose import open_app

    async with open_app(settings, "tool") as process:
        return await make_demo_bookings(process.deps)


async def broadcast(settings: Settings, audience: str, text_id: str, text_en: str) -> int:
    from bot.compose import open_app
    from workers.broadcasts import run_broadcast_cli

    async with open_app(settings, "tool") as process:
        return await run_broadcast_cli(process.deps, audience, {"id": text_id, "en": text_en})


def worker(settings: Settings, burst: bool, quiet: bool) -> bool:
    from bot.compose import open_app
    from workers.worker import run_worker

    return run_worker(settings, lambda: open_app(settings, "worker"), burst=burst, quiet=quiet)


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
        help="day:YYYY-MM-DD, window:YYYY-MM-DD:HHMM-HHMM, or active (every active booking); "
        "in a network of offices, '@<office id> ...' or '@* ...' (every office)",
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
            return asyncio.run(
                broadcast(settings, args.audience, args.text_id, args.text_en or args.text_id)
            )
        elif args.command == "audit":
            asyncio.run(audit(settings, args.limit))
        elif args.command == "demo-bookings":
            return asyncio.run(demo_bookings(settings))
        elif args.command == "worker":
            worker(settings, args.burst, args.quiet)
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
