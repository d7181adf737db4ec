"""A tiny bot of the framework's own, for its tests: a menu, a greeting, an echo, a colour and
a language choice. Built from ``bot.core`` alone (and the settings): no office, no seats, no
booking handlers. Its Indonesian texts match the framework's tests' expectations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from bot.core.deps import Deps
from bot.core.dialog import (
    ANYWHERE,
    CANCEL,
    HELP,
    LANGUAGE,
    MENU,
    RESUME,
    TO_MENU,
    Prompt,
    Reply,
    Steps,
)
from bot.core.dialog import Context as BaseContext
from bot.core.engine import Engine
from bot.core.i18n import Catalog
from bot.core.messages import Option
from bot.infra.settings import load_settings
from tests.support import SECRET, Recorder

Context = BaseContext[Deps]

MESSAGES: dict[str, dict[str, Any]] = {
    "id": {
        "menu": {
            "prompt": "Apa yang ingin Anda lakukan?",
            "greet": "Sapa",
            "echo": "Ulangi",
            "colour": "Warna",
        },
        "colour": {"prompt": "Pilih warna:", "red": "Merah", "blue": "Biru", "set": "Warna {c}."},
        "greet": {"ask": "Siapa nama Anda?", "hello": "Halo, {name}!"},
        "echo": {"ask": "Ketik sesuatu:", "said": "Anda menulis: {text}"},
        "language": {"prompt": "Pilih bahasa / Choose a language:", "set": "Bahasa Indonesia."},
    },
    "en": {
        "menu": {
            "prompt": "What would you like to do?",
            "greet": "Greet",
            "echo": "Echo",
            "colour": "Colour",
        },
        "colour": {"prompt": "Pick a colour:", "red": "Red", "blue": "Blue", "set": "Colour {c}."},
        "greet": {"ask": "What is your name?", "hello": "Hello, {name}!"},
        "echo": {"ask": "Type something:", "said": "You wrote: {text}"},
        "language": {"prompt": "Pilih bahasa / Choose a language:", "set": "English."},
    },
}
WORDS = {
    "menu": TO_MENU,
    "start": TO_MENU,
    "batal": CANCEL,
    "cancel": CANCEL,
    "bantuan": HELP,
    "help": HELP,
    "bahasa": LANGUAGE,
    "language": LANGUAGE,
}


class Menu:
    name = MENU
    goes_to = ("greet", "echo", "colour", "language")

    async def ask(self, ctx: Context) -> Prompt:
        options = [Option(s, ctx.t(f"menu.{s}")) for s in ("greet", "echo", "colour")]
        return Prompt(ctx.t("menu.prompt"), [*options, Option("language", "Bahasa / Language")])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        return reply.option or MENU


class Greet:
    name = "greet"
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("greet.ask"), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.say(ctx.t("greet.hello", name=reply.text))
        return MENU


class Echo:
    name = "echo"
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("echo.ask"), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.say(ctx.t("echo.said", text=reply.text))
        return self.name


class Colour:
    name = "colour"
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("colour.prompt"), [Option(c, ctx.t(f"colour.{c}")) for c in ("red", "blue")]
        )

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.say(ctx.t("colour.set", c=ctx.t(f"colour.{reply.option}")))
        ctx.memo["colour"] = reply.option  # beyond this conversation (tests of the memo)
        return MENU


class Language:
    name = "language"
    goes_to = (ANYWHERE,)  # back where the user was

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("language.prompt"), [Option("id", "Bahasa Indonesia"), Option("en", "English")]
        )

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.set_locale(reply.option or ctx.locale)
        ctx.say(ctx.t("language.set"))
        return str(ctx.data.pop(RESUME, MENU))


def tiny_steps() -> Steps:
    steps = Steps(language="language", words=WORDS)
    for step in (Menu(), Greet(), Echo(), Colour(), Language()):
        steps.add(step)
    return steps


def tiny_deps(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, **settings: Any) -> Deps:
    # Scripted users type faster than people; the rate limit has tests of its own.
    settings.setdefault("rate_limit_per_minute", 0)
    config = load_settings(secret_key=SECRET, var_dir=tmp_path, **settings)
    return Deps.build(config, redis, Catalog.of(MESSAGES, default="id"), clock=clock)


def tiny_engine(deps: Deps, steps: Steps | None = None) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    return Engine(deps, steps or tiny_steps(), {"console": recorder}), recorder
