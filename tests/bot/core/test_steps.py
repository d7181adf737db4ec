"""Step targets are checked: a typo in a step's name fails when the engine is built, and a
step going where it did not declare is a logged bug, not a silent trip to the menu."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from bot.core.dialog import MENU, Prompt, Reply, Steps, UnknownStep
from bot.core.engine import Engine
from bot.core.messages import Inbound
from bot.errors import ConfigError
from tests.bot.core.tinybot import Context, Greet, tiny_deps, tiny_engine, tiny_steps
from tests.support import Recorder, said


class Typo:
    name = "typo"
    goes_to = ("colur",)  # "colour"

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt("?", free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        return "colour"  # not declared


def test_a_typo_in_a_step_target_fails_at_start_up(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    steps = tiny_steps()
    steps.add(Typo())
    with pytest.raises(UnknownStep, match="step 'typo' goes to 'colur'") as raised:
        Engine(tiny_deps(redis, clock, tmp_path), steps, {"console": Recorder()})
    assert isinstance(raised.value, ConfigError)  # the CLI reports it like a bad setting


def test_a_typo_in_a_command_target_or_the_menu_fails_at_start_up(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    deps = tiny_deps(redis, clock, tmp_path)

    async def hello(ctx: Context, args: str) -> str | None:
        return "greeet"

    steps = tiny_steps()
    steps.command("hello", hello, goes_to=("greeet",))
    with pytest.raises(UnknownStep, match=r"command /hello goes to 'greeet'"):
        Engine(deps, steps, {"console": Recorder()})
    no_menu = Steps()
    no_menu.add(Greet())
    with pytest.raises(UnknownStep, match="menu step 'menu'"):
        Engine(deps, no_menu, {"console": Recorder()})
    no_language = Steps(menu="greet", language="language")
    no_language.add(Greet())
    with pytest.raises(UnknownStep, match="language step 'language'"):
        Engine(deps, no_language, {"console": Recorder()})


async def test_going_to_an_undeclared_step_is_a_logged_bug(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Sloppy:
        name = MENU
        goes_to = ()

        async def ask(self, ctx: Context) -> Prompt:
            return Prompt("menu", free_text=True)

        async def answer(self, ctx: Context, reply: Reply) -> str:
            return reply.text  # whatever the user typed

    steps = Steps()
    steps.add(Sloppy())
    steps.add(Greet())
    engine, recorder = tiny_engine(tiny_deps(redis, clock, tmp_path), steps)
    await engine.handle(Inbound("console", "u", "1", "hi"))
    await engine.handle(Inbound("console", "u", "2", "greet"))
    assert "kesalahan" in said(recorder, "u")[-1]
    [bug] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "turn failed" in bug.getMessage() and bug.exc_info is not None
    assert "went to 'greet', which it does not declare" in str(bug.exc_info[1])


async def test_a_link_works_at_any_step_and_is_checked_like_a_command(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    """A link (Steps.link): a notice's button, followed whatever step the user is at, leaving
    that step's data (the reset hooks run); an option on offer with the same prefix stays the
    step's own."""
    deps = tiny_deps(redis, clock, tmp_path)
    followed: list[str] = []
    resets: list[str] = []

    async def colour_link(ctx: Context, rest: str) -> str:
        followed.append(rest)
        ctx.data["picked"] = rest
        return "colour"

    async def on_reset(ctx: Context) -> None:
        resets.append(str(ctx.session.step))

    steps = tiny_steps()
    steps.link("paint", colour_link, goes_to=("colour",))
    steps.on_reset(on_reset)
    engine, recorder = tiny_engine(deps, steps)
    await engine.handle(Inbound("console", "u", "1", "hi"))
    await engine.handle(Inbound("console", "u", "2", option="echo"))
    await engine.handle(Inbound("console", "u", "3", "kata"))  # at the echo step
    await engine.handle(Inbound("console", "u", "4", option="paint:red:1"))
    assert followed == ["red:1"] and resets == ["echo"]
    assert "Pilih warna:" in said(recorder, "u")[-1]
    # The colour step's own options still work.
    await engine.handle(Inbound("console", "u", "5", option="blue"))
    assert followed == ["red:1"] and "Warna Biru." in said(recorder, "u")[-1]
    # A fresh session (a first message that is a link): greeted, then the link.
    await engine.handle(Inbound("console", "v", "1", option="paint:x"))
    assert followed == ["red:1", "x"] and "Pilih warna:" in said(recorder, "v")[-1]
    # Typed text never follows a link.
    await engine.handle(Inbound("console", "w", "1", "hi"))
    await engine.handle(Inbound("console", "w", "2", "paint:red"))
    assert followed == ["red:1", "x"]
    # An undeclared target fails at start-up, like a command's.
    bad = tiny_steps()
    bad.link("paint", colour_link, goes_to=("colur",))
    with pytest.raises(UnknownStep, match="link 'paint' goes to 'colur'"):
        Engine(deps, bad, {"console": Recorder()})
    with pytest.raises(ValueError):
        bad.link("pa:int", colour_link)
