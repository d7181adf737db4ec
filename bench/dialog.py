"""Dialog cost: the same 8-turn booking conversation on Antrean and on aiogram's FSM.

Both receive the same Telegram updates, each parsed as it ships (Antrean: the Telegram channel's
small model, channels/telegram/update.py; the peer: aiogram's Update), both use
the same Redis server, office, seat book and validation, both reply into a sink. Measured in one
run, side by side: CPU milliseconds per turn in this process, Redis round trips and commands per
turn, p50/p99 turn latency, and the ratios.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiogram import Bot
from aiogram.types import Update

from bench.common import (
    Result,
    Tally,
    bench_office,
    callback_update,
    clock,
    commands_total,
    dialog_report,
    nik,
    redis_cpu,
    redis_server,
    text_update,
)
from bench.peers.aiogram_fsm import build_peer
from bot.booking.app import App
from bot.booking.seats import SeatBook
from bot.compose import seat_subscription
from bot.core.channel import Channel
from bot.core.engine import Engine
from bot.core.messages import Choices, Inbound, Outbound
from bot.infra.redis import client_for, production_options
from bot.infra.settings import load_settings
from channels.telegram import update as telegram_update
from handlers import build_steps
from tests.counting import CountingRedis

SECRET = b"benchmark-secret-key-0123456789abcdef"
TURNS = 8


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
    update = telegram_update.from_data(raw)
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


class Runner:
    """One system fed in process, and what its measured rounds added up to."""

    def __init__(
        self,
        name: str,
        client: CountingRedis,
        feed: Callable[[dict[str, Any]], Awaitable[None]],
        sink: Sink,
    ) -> None:
        self.name, self.client, self.feed, self.sink = name, client, feed, sink
        self.tally = Tally(name)
        self.closing: list[Callable[[], Awaitable[None]]] = []

    async def warm_up(self) -> None:
        await drive(self.feed, self.sink, 5, 5, [], first_applicant=9000)  # scripts, imports

    async def measure(self, first: int, applicants: int, concurrency: int) -> None:
        before_cmds = await commands_total(self.client)
        redis_before = await redis_cpu(self.client)
        trips = self.client.round_trips
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await drive(self.feed, self.sink, applicants, concurrency, self.tally.latencies, first)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        round_trips = self.client.round_trips - trips
        redis_used = await redis_cpu(self.client) - redis_before
        commands = await commands_total(self.client) - before_cmds - 3  # minus our own INFOs
        self.tally.add(applicants * TURNS, wall, cpu, round_trips, commands, redis_used)

    async def result(self) -> Result:
        booked = len(await self.client.keys("antrean:{o:bench}:booking:*")) - 5
        return self.tally.result(booked)


def antrean(url: str, var: Path) -> Runner:
    # The client bot.infra.redis.connect() makes in production, counting its round trips.
    client = CountingRedis.from_pool(client_for(url, **production_options()).connection_pool)
    assert isinstance(client, CountingRedis)
    settings = load_settings(secret_key=SECRET.decode(), var_dir=var)
    app = App.build(settings, client, clock=clock(), office=bench_office())
    sink = Sink()
    engine = Engine(app, build_steps(), {"telegram": sink})
    # As bot/compose.py does for the roles that converse: the availability snapshot, kept by
    # one subscription (its own connection; started with the first turn).
    subscription = seat_subscription(app)

    async def feed(raw: dict[str, Any]) -> None:
        if not subscription.live:
            subscription.start()
            async with asyncio.timeout(5):
                await subscription.wait_live()
        await engine.handle(to_inbound(raw))

    runner = Runner("Antrean", client, feed, sink)
    runner.closing.append(subscription.stop)
    return runner


def peer(url: str) -> tuple[Runner, Bot]:
    client = CountingRedis.from_url(url, decode_responses=True)
    assert isinstance(client, CountingRedis)
    office, the_clock = bench_office(), clock()
    seats = SeatBook(client, office.id, the_clock)
    sink = Sink()
    dispatcher, bot = build_peer(client, office, seats, SECRET, sink.record, the_clock)

    async def feed(raw: dict[str, Any]) -> None:
        await dispatcher.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))

    return Runner("aiogram FSM", client, feed, sink), bot


async def compare(applicants: int = 1000, concurrency: int = 100, rounds: int = 4) -> list[Result]:
    """Each system has its own Redis server; they are driven in turns, a round each, in the
    order ABBA...: what the shared machine is doing meanwhile falls on both alike."""
    with redis_server() as ours_redis, redis_server() as peer_redis, TemporaryDirectory() as var:
        ours = antrean(ours_redis.url, Path(var))
        theirs, bot = peer(peer_redis.url)
        for runner in (ours, theirs):
            await runner.warm_up()
        per_round = applicants // rounds
        for n in range(rounds):
            for runner in (ours, theirs) if n % 2 == 0 else (theirs, ours):
                await runner.measure(n * per_round, per_round, concurrency)
        results = [await ours.result(), await theirs.result()]
        await bot.session.close()
        for runner in (ours, theirs):
            for close in runner.closing:
                await close()
            await runner.client.aclose()
    return results


def report(results: list[Result]) -> str:
    return dialog_report(results, "CPU ms/turn", "booked")


if __name__ == "__main__":
    print(report(asyncio.run(compare())))
