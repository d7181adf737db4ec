"""Dialog cost over HTTP: the 8-turn booking conversation as Telegram webhooks, 1,000 applicants,
100 at a time, to Antrean and to the aiogram peer, each in its own process with its own fake Bot
API and Redis server, from the same load generator, in alternating rounds. Reported per system:
turns/s, CPU milliseconds per turn in the bot process, Redis round trips and commands per turn,
p50/p99 webhook latency, and the ratios.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.common import (
    Result,
    Tally,
    commands_total,
    dialog_report,
    nik,
    redis_cpu,
    redis_server,
    text_update,
)
from bench.servers import WEBHOOK_SECRET
from bot.infra.embedded import free_port
from tests.fake_telegram import FakeTelegram
from tests.web_support import run_server

TURNS = 8


def callback(update_id: int, chat: int, data: str, message_id: int) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "id"}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": user,
            "chat_instance": str(chat),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 1_900_000_000,
                "chat": {"id": chat, "type": "private", "first_name": "Bench"},
                "text": "…",
            },
        },
    }


def last_keyboard(fake: FakeTelegram, chat: int) -> tuple[int, list[str]]:
    """The newest message with buttons sent to ``chat``: its id and its callback data."""
    for call in reversed(fake.of("sendMessage", chat)):
        # (A reply keyboard, or its removal, is no inline keyboard.)
        rows = (call.params.get("reply_markup") or {}).get("inline_keyboard")
        if rows and call.result:
            return call.result["message_id"], [b["callback_data"] for row in rows for b in row]
    raise LookupError(f"no keyboard sent to {chat}")


async def drive(
    http: aiohttp.ClientSession,
    fake: FakeTelegram,
    applicants: int,
    concurrency: int,
    latencies: list[float],
    first: int,
    office_for: Callable[[int], str] | None = None,
) -> int:
    """``applicants`` conversations, ``concurrency`` at a time; returns the non-200 answers.
    ``office_for``: in a network, what applicant ``n`` types at the office question."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def applicant(n: int) -> None:
        nonlocal failures
        chat = 200_000 + n
        uid = n * 100

        async def post(update: dict[str, Any]) -> None:
            nonlocal failures
            started = time.perf_counter()
            async with http.post(
                "/webhook/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            ) as response:
                await response.read()
                status = response.status
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                failures += 1

        async def tap(update_id: int, choose: str | None = None) -> None:
            message_id, options = last_keyboard(fake, chat)
            await post(callback(update_id, chat, choose or options[0], message_id))

        async with gate:
            await post(text_update(uid + 1, chat, "/start"))
            await tap(uid + 2, "book")
            if office_for is not None:
                uid += 1
                await post(text_update(uid + 2, chat, office_for(n)))
            await tap(uid + 3, "paspor-baru")
            await tap(uid + 4)
            await tap(uid + 5)
            await post(text_update(uid + 6, chat, nik(n)))
            await post(text_update(uid + 7, chat, "Budi Santoso"))
            await tap(uid + 8, "yes")

    await asyncio.gather(*(applicant(first + n) for n in range(applicants)))
    return failures


class System:
    """One bot process behind its webhook, with its own fake Bot API and Redis server, and what
    its measured rounds added up to."""

    def __init__(
        self,
        name: str,
        system: str,
        redis_url: str,
        concurrency: int,
        server_args: Sequence[str] = (),
        office_for: Callable[[int], str] | None = None,
        warm_up: int = 10,
    ) -> None:
        """``server_args``: more arguments of ``bench.servers``; ``office_for``: see
        :func:`drive` (the conversation then has one turn more); ``warm_up``: conversations
        before the measured rounds."""
        self.name, self.system, self.redis_url = name, system, redis_url
        self.concurrency = concurrency
        self.server_args = server_args
        self.office_for = office_for
        self.warm_up = warm_up
        self.turns = TURNS + (office_for is not None)
        self.fake = FakeTelegram()
        self.tally = Tally(name)
        self.failures = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[System]:
        self.admin = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        port = free_port()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.admin.aclose)
            api_base = await stack.enter_async_context(run_server(self.fake.app()))
            # Antrean as `antrean run` has it: rate limit on, reminders on the due list.
            shipped = ["--shipped"] if self.system == "antrean" else []
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.servers", self.system, str(port), self.redis_url,
                api_base, *shipped, *self.server_args,
            )  # fmt: skip

            async def stop() -> None:
                process.terminate()
                await asyncio.wait_for(process.wait(), 30)

            stack.push_async_callback(stop)
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            self.http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    f"http://127.0.0.1:{port}",
                    connector=connector,
                    timeout=aiohttp.ClientTimeout(total=60),
                )
            )
            for _ in range(600):  # up to 30 s for the bot process to start
                try:
                    await self.stats()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            # The first ~40 turns of a process cost several times a warm one's (PERF-NOTES.md).
            await drive(self.http, self.fake, self.warm_up, 5, [], 9000, self.office_for)
            yield self

    async def stats(self) -> dict[str, Any]:
        async with self.http.get("/bench/stats") as response:
            result: dict[str, Any] = await response.json()
            return result

    async def measure(self, first: int, applicants: int) -> None:
        """One round: ``applicants`` conversations, ``concurrency`` at a time."""
        before = await self.stats()
        commands_before = await commands_total(self.admin)
        redis_before = await redis_cpu(self.admin)
        wall = time.perf_counter()
        self.failures += await drive(
            self.http,
            self.fake,
            applicants,
            self.concurrency,
            self.tally.latencies,
            first,
            self.office_for,
        )
        wall = time.perf_counter() - wall
        after = await self.stats()
        redis_used = await redis_cpu(self.admin) - redis_before
        commands = await commands_total(self.admin) - commands_before - 3  # minus our INFOs
        cpu, round_trips = (
            after["cpu"] - before["cpu"],
            after["round_trips"] - before["round_trips"],
        )
        self.tally.add(applicants * self.turns, wall, cpu, round_trips, commands, redis_used)

    def result(self) -> Result:
        return self.tally.result(self.failures)


FLOOR = "Antrean, session at the floor (bench only)"


async def compare(
    applicants: int = 1000, concurrency: int = 100, rounds: int = 4, floor: bool = False
) -> list[Result]:
    """All bots run at once but are driven in turns, a round each, the order reversed every
    other round (ABC CBA ...): what the shared machine is doing meanwhile falls on all alike.

    Three systems: Antrean, the peer as an aiogram bot is written, and the same peer with
    Antrean's work-around for pydantic rebuilding aiogram's response models (channels/telegram/)
    so that the ratio can be read without it too. ``floor``: a fourth, last, :data:`FLOOR`:
    Antrean with its session's scripts stripped of their guarantees (bench/floor.py)."""
    with ExitStack() as servers:
        ours_redis, peer_redis, pinned_redis = (
            servers.enter_context(redis_server()) for _ in range(3)
        )
        async with AsyncExitStack() as stack:
            ours = await stack.enter_async_context(
                System("Antrean", "antrean", ours_redis.url, concurrency).running()
            )
            peer = await stack.enter_async_context(
                System("aiogram FSM", "peer", peer_redis.url, concurrency).running()
            )
            pinned = await stack.enter_async_context(
                System(
                    "aiogram FSM, models kept", "peer-pinned", pinned_redis.url, concurrency
                ).running()
            )
            order = [ours, peer, pinned]
            if floor:
                floor_url = servers.enter_context(redis_server()).url
                order.append(
                    await stack.enter_async_context(
                        System(FLOOR, "antrean", floor_url, concurrency, ["--floor"]).running()
                    )
                )
            per_round = applicants // rounds
            for n in range(rounds):
                for system in order if n % 2 == 0 else order[::-1]:
                    await system.measure(n * per_round, per_round)
    return [system.result() for system in order]


def report(results: list[Result]) -> str:
    """The table of a comparison (without the floor's row: :func:`floor_report`)."""
    shown = [r for r in results if r.name != FLOOR]
    return dialog_report(shown, "CPU ms/turn (bot process)", "non-200")


def floor_report(results: list[Result]) -> str:
    """What the Redis server spends a turn: Antrean as shipped, at its floor, and the peer."""
    by_name = {r.name: r for r in results}
    peer = by_name["aiogram FSM"]
    lines = [
        "| system | Redis round trips/turn | Redis commands/turn | Redis CPU ms/turn "
        "| x the peer's |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("Antrean", FLOOR, "aiogram FSM"):
        r = by_name[name]
        lines.append(
            f"| {name} | {r.round_trips_per_turn:.2f} | {r.commands_per_turn:.2f} | "
            f"{r.redis_cpu_ms_per_turn:.3f} | "
            f"{r.redis_cpu_ms_per_turn / peer.redis_cpu_ms_per_turn:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    applicants, concurrency = (int(a) for a in sys.argv[1:3])
    measured = asyncio.run(compare(applicants, concurrency, floor=True))
    print(report(measured))
    print(floor_report(measured))
