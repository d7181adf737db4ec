"""Property: whatever a webhook is sent, it answers 200 or 400 (never 500), and a valid message
still gets its reply.

Payloads are valid Telegram updates and WhatsApp envelopes, mutated in one place each: a value
replaced by one of another type, a lone surrogate, digits ``int`` refuses, deep nesting, or a key
removed. Hypothesis drives a synchronous test, so the web app (with the engine, a real Redis and
the fake platform) runs on an event loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer
from channels.telegram.render import NAV_PREFIX
from channels.telegram.webhook import SECRET_HEADER
from channels.whatsapp.render import MORE_PREFIX
from tests.channels.drivers.telegram import WEBHOOK_SECRET, callback_update, text_update
from tests.channels.drivers.telegram import open_channel as open_telegram
from tests.channels.drivers.whatsapp import open_driver
from tests.fake_graph import envelope, reply_message, signed, status_update, text_message

# Bounded, and the same examples on every run (CI and laptops alike).
BOUNDED = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ODD = [
    "\ud800",
    "x\udfffy",
    "\u00b2",  # ²: str.isdigit() is true, int() refuses it
    "\U00010a40",
    "\u0661",
    f"{NAV_PREFIX}\u00b2",
    f"{NAV_PREFIX}\U00010a40",
    f"{MORE_PREFIX}\u00b2",
    "wamid.a\tb",
    "",
]


def nested(depth: int) -> str:
    """A marker that :func:`dumps` turns into ``depth`` nested arrays (deeper than ``json`` can
    dump or load)."""
    return f"__deep{depth}__"


def dumps(payload: Any) -> bytes:
    text = json.dumps(payload)
    return re.sub(r'"__deep(\d+)__"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text).encode()


JUNK = st.one_of(
    # Odd strings twice as likely: they are what reaches Redis and int().
    st.sampled_from(ODD),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.sampled_from(ODD),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from([300, 5_000, 100_000]).map(nested),
)
DELETE = object()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, the root excluded."""
    children: Any = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list)
        else ()
    )  # fmt: skip
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def mutated(payload: Any, path: tuple[Any, ...], junk: Any) -> Any:
    payload = json.loads(json.dumps(payload))
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if junk is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    return payload


@st.composite
def mutations(draw: st.DrawFn, payload: Any) -> tuple[Any, bool]:
    """(payload, whether it is the valid one)."""
    if draw(st.integers(0, 9)) == 0:
        return payload, True
    path = draw(st.sampled_from(list(paths(payload))))
    junk = draw(st.one_of(JUNK, st.just(DELETE)))
    return mutated(payload, path, junk), False


@contextmanager
def served(factory: Callable[[], AbstractAsyncContextManager[Any]]) -> Iterator[Any]:
    """Enter ``factory()`` on an event loop in another thread; yield what it yields."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[Any] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with factory() as value:
                ready.set_result(value)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(asyncio.wait_for(_wait(ready), 30), loop).result()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


async def _wait(future: asyncio.Future[Any]) -> Any:
    return await future


def redis_client(server: RedisServer) -> aioredis.Redis:
    return aioredis.Redis.from_url(server.url, decode_responses=True)


_users = itertools.count(880_000_001)
STICKER = {
    "file_id": "s1",
    "file_unique_id": "su1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
WA_STICKER = {"mime_type": "image/webp", "sha256": "abc", "id": "5678", "animated": False}


def telegram_payloads() -> st.SearchStrategy[tuple[dict[str, Any], int]]:
    def build(kind: int) -> tuple[dict[str, Any], int]:
        chat = next(_users)
        if kind == 0:
            return text_update("halo", chat), chat
        if kind == 1:
            return callback_update("menu", 1, chat), chat
        update = text_update("", chat)
        del update["message"]["text"]
        update["message"]["sticker"] = STICKER
        return update, chat

    return st.integers(0, 2).map(build)


def test_the_telegram_webhook_never_answers_500(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    @asynccontextmanager
    async def app() -> AsyncIterator[tuple[Any, str]]:
        redis = redis_client(redis_server)
        try:
            async with open_telegram(redis, clock, tmp_path) as (fake, _, _, base):
                yield fake, base
        finally:
            await redis.aclose()

    with served(app) as (fake, base), httpx.Client(base_url=base, timeout=30) as http:

        @BOUNDED
        @given(st.data())
        def check(data: st.DataObject) -> None:
            payload, chat = data.draw(telegram_payloads())
            update, valid = data.draw(mutations(payload))
            body = dumps(update)
            headers = {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}
            response = http.post("/webhook/telegram", content=body, headers=headers)
            assert response.status_code in (200, 400), (response.status_code, body[:300])
            if valid:
                assert response.status_code == 200
                assert fake.of("sendMessage", chat), "a valid message got no reply"

        check()


def whatsapp_payloads() -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    def build(kind: int) -> tuple[dict[str, Any], str]:
        wa_id = f"62{next(_users)}"
        if kind == 0:
            return envelope([text_message(wa_id, "halo")]), wa_id
        if kind == 1:
            return envelope([reply_message(wa_id, "list_reply", "docs", "Persyaratan")]), wa_id
        if kind == 2:
            sticker = {**text_message(wa_id, ""), "type": "sticker", "sticker": WA_STICKER}
            del sticker["text"]
            return envelope([sticker]), wa_id
        statuses = [status_update("wamid.x", wa_id, "failed", 131047)]
        return envelope([text_message(wa_id, "halo")], statuses), wa_id

    return st.integers(0, 3).map(build)


def test_the_whatsapp_webhook_never_answers_500(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    @asynccontextmanager
    async def app() -> AsyncIterator[tuple[Any, str]]:
        redis = redis_client(redis_server)
        try:
            async with open_driver(redis, clock, tmp_path) as driver:
                yield driver.fake, str(driver.client.base_url)
        finally:
            await redis.aclose()

    with served(app) as (fake, base), httpx.Client(base_url=base, timeout=30) as http:

        @BOUNDED
        @given(st.data())
        def check(data: st.DataObject) -> None:
            payload, wa_id = data.draw(whatsapp_payloads())
            mutated_payload, valid = data.draw(mutations(payload))
            body = dumps(mutated_payload)
            response = http.post("/webhook/whatsapp", content=body, headers=signed(body))
            assert response.status_code in (200, 400), (response.status_code, body[:300])
            if valid:
                assert response.status_code == 200
                assert fake.to(wa_id), "a valid message got no reply"

        check()
