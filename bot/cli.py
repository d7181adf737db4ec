"""The ``antrean`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.app import App
from bot.embedded import release_shared_server
from bot.engine import Engine
from bot.errors import AntreanError, ConfigError
from bot.redis import connect
from bot.settings import IDENTITY_RE, Settings, load_settings
from channels.console import ConsoleChannel, ConsoleSession, read_lines
from handlers import build_steps

log = logging.getLogger("antrean")


async def chat(settings: Settings, identity: str) -> None:
    channel_name, _, user_id = identity.partition(":")
    if channel_name != "console":
        raise ConfigError("--as takes a console identity, e.g. console:admin")
    client, server = connect(settings)
    try:
        app = App.build(settings, client)
        console = ConsoleChannel(image_dir=settings.var_dir / "images")
        engine = Engine(app, build_steps(), {"console": console})
        session = ConsoleSession(user_id)
        print(f"Antrean · {app.office.name} · Ctrl-D to quit\n")
        await engine.handle(session.inbound("start"))
        while (line := await read_lines(sys.stdin)) is not None:
            await engine.handle(session.inbound(line))
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
    commands.add_parser(
        "run", help="serve the configured channels; with none configured, chat in the terminal"
    )
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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
        if args.command in ("run", "chat"):
            identity = getattr(args, "identity", "console:me")
            if not IDENTITY_RE.match(identity):
                raise ConfigError(f"--as {identity!r}: expected an identity like console:admin")
            asyncio.run(chat(settings, identity))
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
