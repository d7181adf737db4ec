"""Dialog cost: the same 8-turn booking conversation on Antrean and on aiogram's FSM.

Both receive the same Telegram updates (parsed by aiogram's Update model on both sides), both use
the same Redis server, office, seat book and validation, both reply into a sink. Measured in one
run, side by side: CPU milliseconds per turn in this process, Redis round trips and commands per
turn, p50/p99 turn latency, and the ratios.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiogram.types import Update

from bench.common import (
    bench_office,
    callback_update,
    clock,
    commands_total,
    nik,
    percentile,
    redis_server,
    text_update,
)
from bench.peers.aiogram_fsm import build_peer
from bot.app import App
from bot.engine import Engine
from bot.messages import Choices, Inbound, Outbound
from bot.seats import SeatBook
from bot.settings import load_settings
from channels.base import Channel
from handlers import build_steps
from tests.counting import CountingRedis

SECRET = b"benchmark-secret-key-0123456789abcdef"
TURNS = 8


@dataclass
class Result:
    name: str
    turns: int
    seconds: float
    cpu_ms_per_turn: float
    round_trips_per_turn: float
    commands_per_turn: float
    p50_ms: float
    p99_ms: float
    booked: int

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.seconds


class Sink(Channel):
    """Keeps the ids of the last options offered to each chat, so the load generator can tap."""

    name = "telegram"

    def __init__(self) -> None:
        self.last: dict[str, list[str]] = {}

    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        for message in messages:
            if isinstance(message, Choices):
                self.last[user_id] = [o.id for o in message.options]

    def record(self, chat_id: int, _text: str, options: list[str]) -> None:
        if options:
            self.last[str(chat_id)] = options


def to_inbound(raw: dict[str, Any]) -> Inbound:
    """What the Telegram channel does with an update, minus HTTP."""
    update = Update.model_validate(raw)
    if update.message is not None:
        chat = str(update.message.chat.id)
        return Inbound("telegram", chat, f"u{update.update_id}", text=update.message.text or "")
    assert update.callback_query is not None
    chat = str(update.callback_query.from_user.id)
    return Inbound("telegram", chat, f"u{update.update_id}", option=update.callback_query.data)


async def drive(
    feed: Callable[[dict[str, Any]], Awaitable[None]],
    sink: Sink,
    applicants: int,
    concurrency: int,
    latencies: list[float],
    first_applicant: int = 0,
) -> None:
    """Each applicant books: /start, book, service, day, window, NIK, name, yes."""
    gate = asyncio.Semaphore(concurrency)

    async def applicant(n: int) -> None:
        chat = 100_000 + n
        uid = n * 100

        async def turn(update: dict[str, Any]) -> None:
            started = time.perf_counter()
            await feed(update)
            latencies.append((time.perf_counter() - started) * 1000)

        def first() -> str:
            return sink.last[str(chat)][0]

        async with gate:
            await turn(text_update(uid + 1, chat, "/start"))
            await turn(callback_update(uid + 2, chat, "book"))
            await turn(callback_update(uid + 3, chat, "paspor-baru"))
            await turn(callback_update(uid + 4, chat, first()))
            await turn(callback_update(uid + 5, chat, first()))
            await turn(text_update(uid + 6, chat, nik(n)))
            await turn(text_update(uid + 7, chat, "Budi Santoso"))
            await turn(callback_update(uid + 8, chat, "yes"))

    await asyncio.gather(*(applicant(first_applicant + n) for n in range(applicants)))


async def measure(
    name: str,
    client: CountingRedis,
    feed: Callable[[dict[str, Any]], Awaitable[None]],
    sink: Sink,
    applicants: int,
    concurrency: int,
    seats: SeatBook,
) -> Result:
    latencies: list[float] = []
    await drive(feed, sink, 5, 5, [], first_applicant=9000)  # warm up: scripts, imports
    before_cmds = await commands_total(client)
    client.round_trips = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await drive(feed, sink, applicants, concurrency, latencies)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    trips = client.round_trips
    commands = await commands_total(client) - before_cmds - 1  # minus our own INFO
    turns = applicants * TURNS
    booked = len(await client.keys("antrean:{o:bench}:booking:*")) - 5
    return Result(
        name,
        turns,
        wall,
        cpu * 1000 / turns,
        trips / turns,
        commands / turns,
        percentile(latencies, 50),
        percentile(latencies, 99),
        booked,
    )


async def run_antrean(url: str, applicants: int, concurrency: int, var: Path) -> Result:
    client = CountingRedis.from_url(url, decode_responses=True)
    await client.flushall()
    settings = load_settings(secret_key=SECRET.decode(), var_dir=var)
    app = App.build(settings, client, clock=clock(), office=bench_office())
    sink = Sink()
    engine = Engine(app, build_steps(), {"telegram": sink})

    async def feed(raw: dict[str, Any]) -> None:
        await engine.handle(to_inbound(raw))

    result = await measure("Antrean", client, feed, sink, applicants, concurrency, app.seats)
    await client.aclose()
    return result


async def run_peer(url: str, applicants: int, concurrency: int) -> Result:
    client = CountingRedis.from_url(url, decode_responses=True)
    await client.flushall()
    office, the_clock = bench_office(), clock()
    seats = SeatBook(client, office.id, the_clock)
    sink = Sink()
    dispatcher, bot = build_peer(client, office, seats, SECRET, sink.record, the_clock)

    async def feed(raw: dict[str, Any]) -> None:
        await dispatcher.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))

    result = await measure("aiogram FSM", client, feed, sink, applicants, concurrency, seats)
    await bot.session.close()
    await client.aclose()
    return result


async def compare(applicants: int = 1000, concurrency: int = 100) -> list[Result]:
    with redis_server() as server, TemporaryDirectory() as var:
        ours = await run_antrean(server.url, applicants, concurrency, Path(var))
        peer = await run_peer(server.url, applicants, concurrency)
    return [ours, peer]


def report(results: list[Result]) -> str:
    ours, peer = results
    lines = [
        "| system | turns | turns/s | CPU ms/turn | Redis round trips/turn | Redis commands/turn "
        "| p50 ms | p99 ms | booked |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.turns} | {r.turns_per_s:,.0f} | {r.cpu_ms_per_turn:.3f} | "
            f"{r.round_trips_per_turn:.2f} | {r.commands_per_turn:.2f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.booked} |"
        )
    lines.append(
        f"| **ratio Antrean / peer** | | {ours.turns_per_s / peer.turns_per_s:.2f} | "
        f"{ours.cpu_ms_per_turn / peer.cpu_ms_per_turn:.2f} | "
        f"{ours.round_trips_per_turn / peer.round_trips_per_turn:.2f} | "
        f"{ours.commands_per_turn / peer.commands_per_turn:.2f} | | | |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(asyncio.run(compare())))
