"""A platform turn with workers (an RQ queue) and the user's outbox (bot/core/outbox.py): the turn's
``begin`` says whether the outbox holds replies, so a turn costs its two round trips, and replies
go behind what the outbox holds, also for the next messages of the same lease. Real Redis, the
real dialog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from rq import Queue

from bot.core.channel import Deadline, PacedChannel
from bot.core.clock import ManualClock, ms
from bot.core.deps import Deps
from bot.core.engine import Engine
from bot.core.messages import Inbound, Outbound, Text
from bot.core.outbox import Entry, Outbox
from bot.core.writes import Write
from bot.errors import ChannelError
from bot.infra.embedded import RedisServer
from bot.infra.keys import SessionKeys
from tests.bot.core.tinybot import tiny_deps, tiny_steps
from tests.counting import CountingRedis
from workers.jobs import RqJobs

IDENTITY = "telegram:42"


@dataclass
class Platform(PacedChannel):
    """A platform channel that keeps what it sent; its next ``failures`` sends time out."""

    name = "telegram"
    redis: aioredis.Redis | None = None
    pacer: None = None
    sent: list[Outbound] = field(default_factory=list)
    failures: int = 0

    async def _send_all(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline | None = None
    ) -> list[Write]:
        if self.failures:
            self.failures -= 1
            raise ChannelError("timed out", code="timeout")
        self.sent.extend(messages)
        return []


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[Queue]:
    sync = SyncRedis.from_url(redis_server.url)
    yield Queue("tiny", connection=sync)
    sync.close()


def platform_engine(app: Deps, queue: Queue) -> tuple[Engine, Platform]:
    app.jobs = RqJobs(queue)
    channel = Platform()
    return Engine(app, tiny_steps(), {"telegram": channel}), channel


def message(n: int, text: str) -> Inbound:
    return Inbound("telegram", "42", f"m{n}", text)


async def outbox_ids(redis: aioredis.Redis) -> list[str]:
    return [Entry.loads(e).id for e in await redis.lrange(SessionKeys(IDENTITY).outbox, 0, -1)]


async def test_a_platform_turn_with_workers_costs_two_redis_round_trips(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path, queue: Queue
) -> None:
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    engine, channel = platform_engine(tiny_deps(client, clock, tmp_path), queue)
    await engine.handle(message(0, "halo"))  # a fresh server: the scripts load here
    # Before: a third, the outbox's put-if-pending script before every send.
    for n, word in enumerate(("bahasa", "English", "menu", "3", "1"), 1):
        client.round_trips = 0
        assert await engine.handle(message(n, word)) == "handled"
        assert client.round_trips == 2, word
    assert len(channel.sent) == 6 and await client.llen(SessionKeys(IDENTITY).outbox) == 0
    await client.aclose()


async def test_a_turn_whose_begin_saw_a_pending_outbox_puts_its_replies_behind_it(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, queue: Queue
) -> None:
    engine, channel = platform_engine(tiny_deps(redis, clock, tmp_path), queue)
    outbox = Outbox(redis)
    await outbox.put("telegram", "42", "m0", [Text("earlier")])
    assert await engine.handle(message(1, "halo")) == "handled"
    assert channel.sent == []
    assert await outbox_ids(redis) == ["m0:0", "m1:0"]
    assert queue.count == 1  # a worker sends them, in order
    # The worker sent both: the next turn's replies go straight out.
    token = outbox.new_token()
    for _ in range(2):
        entry = await outbox.claim(IDENTITY, token)
        assert isinstance(entry, Entry) and await outbox.done(IDENTITY, token, entry.id)
    assert await engine.handle(message(2, "menu")) == "handled"
    assert len(channel.sent) == 1 and await outbox.pending(IDENTITY) == 0


async def test_once_a_turn_left_replies_to_the_outbox_the_next_in_its_lease_go_behind(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, queue: Queue
) -> None:
    app = tiny_deps(redis, clock, tmp_path)
    engine, channel = platform_engine(app, queue)
    # A process took the lease for m1 and died; m2 queued behind it.
    now = ms(clock.now())
    assert (await app.sessions.begin(message(1, "halo"), now)).status == "run"
    assert (await app.sessions.begin(message(2, "bantuan"), now)).status == "queued"
    clock.advance(app.settings.lease_seconds + 1)
    # The takeover runs m1, m2, m3 in one lease; its begin saw an empty outbox, and m1's reply
    # times out into it.
    channel.failures = 1
    assert await engine.handle(message(3, "menu")) == "handled"
    assert channel.sent == []
    assert [i.split(":")[0] for i in await outbox_ids(redis)] == ["m1", "m2", "m3"]
