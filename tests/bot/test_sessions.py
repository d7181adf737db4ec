from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from bot.clock import ManualClock, ms
from bot.embedded import RedisServer
from bot.errors import SessionLost
from bot.keys import SessionKeys
from bot.messages import Inbound
from bot.sessions import SCHEMA_VERSION, Session, SessionStore


def msg(n: int, user: str = "42", text: str = "") -> Inbound:
    return Inbound("telegram", user, f"m{n}", text=text or f"text {n}")


async def test_begin_and_finish_round_trip(redis: aioredis.Redis, clock: ManualClock) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    turn = await store.begin(msg(1), now)
    assert turn.status == "run" and turn.inbound == msg(1) and turn.raw_session is None
    session = Session("telegram:42", locale="en", step="menu", data={"svc": "a"})
    assert await store.finish("telegram:42", turn.token, "m1", session, now) is None
    again = await store.begin(msg(2), now + 1000)
    loaded = Session.loads("telegram:42", again.raw_session, now_ms=now + 1000, idle_ms=60_000)
    assert (loaded.locale, loaded.step, loaded.data, loaded.fresh) == (
        "en",
        "menu",
        {"svc": "a"},
        False,
    )


async def test_a_redelivered_message_is_a_duplicate(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    turn = await store.begin(msg(1), now)
    # Delivered again while still being handled: the platform should try later.
    assert (await store.begin(msg(1), now)).status == "busy"
    await store.finish("telegram:42", turn.token, "m1", Session("telegram:42"), now)
    assert (await store.begin(msg(1), now)).status == "duplicate"


async def test_messages_behind_the_holder_are_queued_and_handed_over_in_order(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    first = await store.begin(msg(1), now)
    for n in range(2, 11):
        assert (await store.begin(msg(n), now)).status == "queued"
    handled = ["m1"]
    current = "m1"
    while True:
        nxt = await store.finish("telegram:42", first.token, current, Session("telegram:42"), now)
        if nxt is None:
            break
        handled.append(nxt.message_id)
        current = nxt.message_id
    assert handled == [f"m{n}" for n in range(1, 11)]
    assert await redis.exists(SessionKeys("telegram:42").lease) == 0


async def test_a_dead_holders_lease_expires_and_nothing_is_lost(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis, lease_ms=30_000)
    now = ms(clock.now())
    dead = await store.begin(msg(1), now)  # this process dies mid-turn
    assert (await store.begin(msg(2), now)).status == "queued"
    clock.advance(31)
    later = ms(clock.now())
    took_over = await store.begin(msg(3), later)
    # The message in flight when the holder died runs first, then the queue, in order.
    assert took_over.status == "run" and took_over.inbound is not None
    order = [took_over.inbound.message_id]
    current = order[0]
    while nxt := await store.finish(
        "telegram:42", took_over.token, current, Session("telegram:42"), later
    ):
        order.append(nxt.message_id)
        current = nxt.message_id
    assert order == ["m1", "m2", "m3"]
    # The dead holder's late save is refused rather than overwriting newer state.
    with pytest.raises(SessionLost):
        await store.finish("telegram:42", dead.token, "m1", Session("telegram:42"), later)


async def test_each_turn_costs_two_round_trips(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    from tests.counting import CountingRedis

    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    store = SessionStore(client)
    # Load the scripts once, as a long-running process would.
    warm = await store.begin(msg(0), ms(clock.now()))
    await store.finish("telegram:42", warm.token, "m0", Session("telegram:42"), ms(clock.now()))
    client.round_trips = 0
    for n in range(1, 6):
        turn = await store.begin(msg(n), ms(clock.now()))
        await store.finish(
            "telegram:42", turn.token, f"m{n}", Session("telegram:42"), ms(clock.now())
        )
    assert client.round_trips == 2 * 5
    await client.aclose()


async def test_writes_ride_with_the_save_in_its_round_trip(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    from bot.pacing import TAKE
    from bot.writes import Write
    from tests.counting import CountingRedis

    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    store = SessionStore(client)
    now = ms(clock.now())
    turn = await store.begin(msg(1), now)
    # A fresh server knows neither script: both are loaded and sent again, nothing is lost.
    await client.script_flush()
    take = client.register_script(TAKE)
    writes = [
        Write(("XADD", "log", "*", "a", "1")),
        Write(("EVALSHA", take.sha, 1, "bucket", now, 100, 5, "1", 2), TAKE),
        Write(("INCR", "log")),  # a wrong type: logged and dropped, the turn stands
        Write(("SET", "after", "yes")),
    ]
    session = Session("telegram:42", step="menu")
    assert await store.finish("telegram:42", turn.token, "m1", session, now, writes) is None
    assert await client.xlen("log") == 1 and await client.get("after") == "yes"
    assert float(await client.hget("bucket", "tat")) == now + 200
    again = await store.begin(msg(2), now)
    loaded = Session.loads("telegram:42", again.raw_session, now_ms=now, idle_ms=60_000)
    assert again.status == "run" and loaded.step == "menu"

    client.round_trips = 0
    assert await store.finish("telegram:42", again.token, "m2", session, now, writes[:2]) is None
    assert client.round_trips == 1
    assert await client.xlen("log") == 2
    await client.aclose()


def test_sessions_restart_gracefully() -> None:
    now = 10_000_000
    old = json.dumps({"v": SCHEMA_VERSION - 1, "l": "en", "s": "book.gone", "t": now})
    s = Session.loads("console:x", old, now_ms=now, idle_ms=1000)
    assert (s.restarted, s.locale, s.step, s.fresh) == ("upgraded", "en", None, True)
    assert Session.loads("console:x", "{not json", now_ms=now, idle_ms=1).restarted == "upgraded"
    assert Session.loads("console:x", "[1, 2]", now_ms=now, idle_ms=1).restarted == "upgraded"
    idle = json.dumps({"v": SCHEMA_VERSION, "l": "id", "s": "book.nik", "t": now - 5000})
    s = Session.loads("console:x", idle, now_ms=now, idle_ms=1000)
    assert (s.restarted, s.locale, s.step) == ("expired", "id", None)
    assert Session.loads("console:x", None, now_ms=now, idle_ms=1).restarted == ""


def test_idle_session_is_small() -> None:
    session = Session("telegram:123456789", locale="id", step="menu", touched_ms=1_900_000_000_000)
    session.offered = [("book", "Ambil antrean"), ("mine", "Antrean saya")]
    assert len(session.dumps()) < 200
