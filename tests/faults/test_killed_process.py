"""A real ``antrean run`` killed in the middle of a burst (issue #12, finding 1): the OOM killer's
SIGKILL, and systemd's stop (SIGTERM, turns still in flight, SIGKILL after TimeoutStopSec).
Restarted, and handed again by Telegram whatever got no 200, it answers every message of every
user, once and in order, without anyone writing again; and no key holding user text is left
without an expiry.

Thirty users each send ``/start``, ``1``, ``1``, ``1`` 50 ms apart while the Bot API answers after
a second: each user's first request holds the user's lease for about four seconds while the
others wait in the inbox, so the kill catches every user mid-conversation.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.infra.embedded import RedisServer, free_port
from bot.infra.keys import SessionKeys
from tests.channels.drivers.telegram import text_update
from tests.deploy.support import (
    Webhook,
    WebProcesses,
    slow_sends,
    texts_to,
    web_processes,
    write_office,
)
from tests.fake_telegram import FakeTelegram
from tests.invariants import assert_user_text_expires
from tests.web_support import run_server

USERS = 30
TYPED = ("/start", "1", "1", "1")
REFERENCE = 4_400_000
FIRST_CHAT = 4_400_100
API_DELAY = 1.0
KILL_AFTER = 2.5
# Short, so that the restarted process may take over soon; sends are far shorter than this.
LEASE_SECONDS = "3"


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    # Its own server: these processes run on real time and must not meet another test's keys.
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


def collapse(texts: list[str]) -> tuple[list[str], int]:
    """``texts`` with each run of one repeated text kept once, and how many were repeats (a
    reply whose send reached the platform just before the kill is sent again by the re-run:
    Telegram has no way to make a send idempotent)."""
    kept: list[str] = []
    for text in texts:
        if not kept or kept[-1] != text:
            kept.append(text)
    return kept, len(texts) - len(kept)


async def kill(group: WebProcesses, *, graceful_for: float | None) -> None:
    """SIGKILL the process, or SIGTERM it and SIGKILL it ``graceful_for`` seconds later."""
    process = group.processes[0].process
    if graceful_for is not None:
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(graceful_for)
    if process.returncode is None:
        process.kill()
    await process.wait()


Sent = list[tuple[dict[str, Any], int]]


async def converse(hook: Webhook, chat: int, redis: aioredis.Redis) -> Sent:
    """One user's messages 50 ms apart, each its own request (as Telegram sends them); each
    update with the status it got (599: no answer).

    Each message is sent once the previous one has reached the server (its id is in the user's
    seen set) and at least 50 ms after it: requests in flight together may otherwise reach the
    session script in another order on a loaded machine, which is no fault of the server's."""
    updates = [text_update(text, chat) for text in TYPED]
    seen = SessionKeys(f"telegram:{chat}").seen
    sends = []
    for update in updates:
        sends.append(asyncio.create_task(hook.post(update, 0)))
        await asyncio.sleep(0.05)
        message_id = f"u{update['update_id']}"
        for _ in range(500):  # 5 s at most
            if sends[-1].done() or await redis.zscore(seen, message_id) is not None:
                break
            await asyncio.sleep(0.01)
    return list(zip(updates, await asyncio.gather(*sends), strict=True))


async def redeliver(hook: Webhook, sent: Sent, within: float) -> None:
    """Deliver each update that got no 200 again, in order, until it gets one (as Telegram
    does, though Telegram waits longer between tries)."""
    deadline = time.monotonic() + within
    for update, status in sent:
        while status != 200:
            assert status in (503, 599), status
            assert time.monotonic() < deadline, "an update was never acknowledged"
            await asyncio.sleep(0.2)
            status = await hook.post(update, 0)


@pytest.mark.parametrize("graceful_for", [None, 0.5], ids=["sigkill", "sigterm-then-sigkill"])
async def test_a_killed_process_strands_no_message(
    private_redis: RedisServer, tmp_path: Path, graceful_for: float | None
) -> None:
    office_file = write_office(tmp_path, seats=50)
    fake = FakeTelegram()
    api = fake.app()
    chats = [FIRST_CHAT + n for n in range(USERS)]
    api.middlewares.append(slow_sends({str(c) for c in chats}, delay=API_DELAY))
    client = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    env: dict[str, Any] = {
        "redis_url": private_redis.url,
        "office_file": office_file,
        "var_dir": tmp_path / "var",
        "ANTREAN_LEASE_SECONDS": LEASE_SECONDS,
    }
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            run_server(api) as api_base,
            aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            first_dir, second_dir = tmp_path / "first", tmp_path / "second"
            first_dir.mkdir(), second_dir.mkdir()
            async with web_processes(1, first_dir, http, api_base=api_base, **env) as first:
                hook = Webhook(http, first.bases)
                # What each user should see: one user's conversation, one message at a time.
                for text in TYPED:
                    assert await hook.post(text_update(text, REFERENCE), 0) == 200
                expected = texts_to(fake, REFERENCE)
                assert len(expected) == len(TYPED), expected

                burst = asyncio.gather(*(converse(hook, chat, client) for chat in chats))
                await asyncio.sleep(KILL_AFTER)
                await kill(first, graceful_for=graceful_for)
                sent = dict(zip(chats, await asyncio.wait_for(burst, 10), strict=True))
            unacknowledged = sum(status != 200 for s in sent.values() for _, status in s)
            assert unacknowledged >= USERS, "the kill came too late to catch anyone mid-turn"

            async with web_processes(1, second_dir, http, api_base=api_base, **env) as second:
                hook = Webhook(http, second.bases)
                await asyncio.gather(*(redeliver(hook, sent[chat], within=30) for chat in chats))
                # Every user has every reply, without writing again.
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if all(len(collapse(texts_to(fake, c))[0]) >= len(TYPED) for c in chats):
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(API_DELAY + 0.5)  # anything more would show up by now
                logs = second.logs()
                assert await second.stop() == [0], logs

        repeats = 0
        for chat in chats:
            kept, repeated = collapse(texts_to(fake, chat))
            # Each message handled once, in order: a stale "1" run twice would show as an extra
            # reply (the NIK question).
            assert kept == expected, (chat, kept)
            assert repeated <= 1, (chat, texts_to(fake, chat))
            repeats += repeated
        print(f"{repeats} of {USERS * len(TYPED)} replies sent twice (in flight at the kill)")
        await assert_user_text_expires(client)
    finally:
        await client.aclose()
