# A clinic's appointment request, a bot on Antrean's framework: python -m examples.clinic
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from bot.core import Catalog, Context, Deps, Engine, Option, Prompt, Reply, Steps, Write, chat
from bot.infra.redis import connected
from bot.infra.settings import load_settings
from channels.console import ConsoleChannel, ConsoleSession, read_lines

CATALOG = Catalog.load(Path(__file__).parent / "clinic_locales", default="en")


class Department:
    name, goes_to = "department", ("day",)

    async def ask(self, ctx: Context[Deps]) -> Prompt:
        return Prompt(ctx.t("department"), [Option(d, ctx.t(d)) for d in ("gp", "dental", "eye")])

    async def answer(self, ctx: Context[Deps], reply: Reply) -> str:
        ctx.data["department"] = ctx.t(reply.option or "gp")
        return "day"


class Day:
    name, goes_to = "day", ("name",)

    async def ask(self, ctx: Context[Deps]) -> Prompt:
        days = [f"{ctx.deps.local_today() + timedelta(days=n):%a %d %b}" for n in range(1, 6)]
        return Prompt(ctx.t("day"), [Option(day, day) for day in days])

    async def answer(self, ctx: Context[Deps], reply: Reply) -> str:
        ctx.data["day"] = reply.option
        return "name"


class Name:
    name, goes_to = "name", ()

    async def ask(self, ctx: Context[Deps]) -> Prompt:
        return Prompt(ctx.t("name"), free_text=True)

    async def answer(self, ctx: Context[Deps], reply: Reply) -> str:
        request = {"department": ctx.data["department"], "day": ctx.data["day"], "name": reply.text}
        ctx.later(Write(("RPUSH", "clinic:requests", repr(request))))  # saved with the turn
        ctx.say(ctx.t("done", **request))
        return "department"  # the menu: back to the start


async def main() -> None:
    async with connected(settings := load_settings()) as redis:
        steps = Steps.of(Department(), Day(), Name(), menu="department")
        engine = Engine(Deps.build(settings, redis, CATALOG), steps, {"console": ConsoleChannel()})
        await chat(engine, ConsoleSession("you").inbound, lambda: read_lines(sys.stdin))


if __name__ == "__main__":
    asyncio.run(main())
