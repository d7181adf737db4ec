from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from bot.core.clock import ManualClock, ms
from bot.core.messages import Inbound
from bot.core.pacing import Pacer, Rate, channel_key, recipient_key
from bot.core.sessions import (
    DROPPED_REMEMBER_MS,
    SCHEMA_VERSION,
    InFlight,
    Session,
    SessionStore,
    Turn,
)
from bot.errors import SessionLost
from bot.infra.embedded import RedisServer
from bot.infra.keys import SessionKeys
from bot.infra.settings import load_settings
from tests.invariants import assert_user_text_expires


def msg(n: int, user: str = "42", text: str = "") -> Inbound:
    return Inbound("telegram", user, f"m{n}", text=text or f"text {n}")


async def test_begin_and_finish_round_trip(redis: aioredis.Redis, clock: ManualClock) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    turn = await store.begin(msg(1), now)
    assert turn.status == "run" and turn.raw_session is None
    assert turn.in_flight == InFlight(msg(1), attempts=1)
    session = Session("telegram:42", locale="en", step="menu", data={"svc": "a"})
    assert await store.finish("telegram:42", turn.token, session, now) is None
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
    await store.finish("telegram:42", turn.token, Session("telegram:42"), now)
    assert (await store.begin(msg(1), now)).status == "duplicate"


async def drain(store: SessionStore, turn: Turn, now: int, user: str = "42") -> list[str]:
    """Handle every message the lease hands ``turn`` (doing nothing), in order; their ids."""
    assert turn.status == "run" and turn.in_flight is not None
    in_flight: InFlight | None = turn.in_flight
    handled = []
    while in_flight is not None:
        assert in_flight.inbound is not None
        handled.append(in_flight.inbound.message_id)
        in_flight = await store.finish(f"telegram:{user}", turn.token, Session("x"), now)
    return handled


async def test_messages_behind_the_holder_are_queued_and_handed_over_in_order(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    first = await store.begin(msg(1), now)
    for n in range(2, 11):
        assert (await store.begin(msg(n), now)).status == "queued"
    assert await drain(store, first, now) == [f"m{n}" for n in range(1, 11)]
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
    # The message in flight when the holder died runs first (started a second time), then the
    # queue, in order.
    assert took_over.in_flight is not None and took_over.in_flight.attempts == 2
    assert await drain(store, took_over, later) == ["m1", "m2", "m3"]
    # The dead holder's late save is refused rather than overwriting newer state.
    with pytest.raises(SessionLost):
        await store.finish("telegram:42", dead.token, Session("telegram:42"), later)


async def test_a_redelivered_message_of_a_dead_holder_takes_over_without_running_again(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    """Regression (issue #12, finding 1): the process handling /start dies after it, on the
    first queued message; the redelivered /start was answered "duplicate" and nobody took over."""
    store = SessionStore(redis, lease_ms=30_000)
    now = ms(clock.now())
    holder = await store.begin(msg(1), now)
    for n in (2, 3):
        assert (await store.begin(msg(n), now)).status == "queued"
    assert await store.finish("telegram:42", holder.token, Session("x"), now) is not None
    # ...the process dies with m2 in flight. While its lease lasts, the redelivery of m1 (already
    # handled) is not acknowledged: the platform must bring it again.
    assert (await store.begin(msg(1), now + 1000)).status == "busy"
    assert (await store.begin(msg(2), now + 1000)).status == "busy"
    clock.advance(31)
    later = ms(clock.now())
    took_over = await store.begin(msg(1), later)
    assert took_over.status == "run"
    assert await drain(store, took_over, later) == ["m2", "m3"]  # m1 does not run again
    # Now the redelivery is an ordinary duplicate.
    assert (await store.begin(msg(1), later)).status == "duplicate"
    assert (await store.begin(msg(3), later)).status == "duplicate"


async def test_the_lease_counts_how_often_its_message_was_started(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis, lease_ms=1000)
    now = ms(clock.now())
    attempts = []
    for n in range(4):
        # Each process that takes the message over dies on it.
        turn = await store.begin(msg(1), now + n * 2000)
        assert turn.status == "run" and turn.in_flight is not None
        attempts.append(turn.in_flight.attempts)
    assert attempts == [1, 2, 3, 4]
    # The next message of the user queued behind it starts afresh once handed over.
    assert (await store.begin(msg(2), now + 6500)).status == "queued"
    nxt = await store.finish("telegram:42", turn.token, Session("x"), now + 6500)
    assert nxt == InFlight(msg(2), attempts=1)


@pytest.mark.parametrize(
    "message_id", ["wamid.a\tb", "a|b|c", "12:34", "3:ab", "", "id\twith\ttabs|and:colons"]
)
async def test_any_message_id_survives_the_lease_and_the_inbox(
    redis: aioredis.Redis, clock: ManualClock, message_id: str
) -> None:
    """Regression (issue #12, finding 2): an id with a tab broke the "id<TAB>payload" entries."""
    store = SessionStore(redis, lease_ms=1000)
    now = ms(clock.now())
    odd = Inbound("whatsapp", "62811", message_id, text="halo\tdunia|x")
    plain = Inbound("whatsapp", "62811", "plain", text="menu")
    first = await store.begin(odd, now)
    assert first.in_flight == InFlight(odd)
    assert (await store.begin(odd, now)).status == "busy"
    assert (await store.begin(plain, now)).status == "queued"
    # The holder dies; the odd message's redelivery takes over and runs it again, then the queue.
    took_over = await store.begin(odd, now + 2000)
    assert took_over.in_flight == InFlight(odd, attempts=2)
    nxt = await store.finish("whatsapp:62811", took_over.token, Session("x"), now + 2000)
    assert nxt == InFlight(plain)
    assert await store.finish("whatsapp:62811", took_over.token, Session("x"), now + 2000) is None
    assert (await store.begin(odd, now + 2000)).status == "duplicate"


async def test_an_unreadable_entry_is_handed_over_as_such(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis)
    now = ms(clock.now())
    holder = await store.begin(msg(1), now)
    keys = SessionKeys("telegram:42")
    # E.g. an entry an older version queued: "<id>\t<payload>".
    await redis.rpush(keys.inbox, 'm9\t{"c":"telegram"}', "5:m1234{not json")
    assert (await store.begin(msg(2), now)).status == "queued"
    handed = []
    in_flight = await store.finish("telegram:42", holder.token, Session("x"), now)
    while in_flight is not None:
        handed.append(in_flight.inbound)
        in_flight = await store.finish("telegram:42", holder.token, Session("x"), now)
    assert handed == [None, None, msg(2)]


async def test_every_key_that_holds_user_text_expires(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    """Regression (issue #12, finding 1): the inbox had no expiry."""
    store = SessionStore(redis, lease_ms=30_000, rate_limit=20)
    now = ms(clock.now())
    holder = await store.begin(msg(1, text="3171011508850001"), now)
    assert (await store.begin(msg(2, text="Budi Santoso"), now)).status == "queued"
    await assert_user_text_expires(redis)
    keys = SessionKeys("telegram:42")
    # The lease and the inbox carry text: they outlive the lease only briefly.
    for key in (keys.lease, keys.inbox):
        assert 0 < await redis.pttl(key) <= 600_000, key
    for key in (keys.seen, keys.rate):
        assert await redis.pttl(key) > 0, key
    await store.finish("telegram:42", holder.token, Session("x"), now)
    await assert_user_text_expires(redis)


async def test_seen_ids_are_kept_as_long_as_their_platform_redelivers(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    """Issue #12, finding 7: each id has its own lifetime, by its platform's redelivery window;
    a message dropped by the rate limit (answered 200) is remembered only briefly."""
    store = SessionStore(redis, rate_limit=1, rate_burst=1)
    now = ms(clock.now())
    day = 24 * 3600 * 1000
    turn = await store.begin(msg(1), now, remember_ms=day)
    await store.finish("telegram:42", turn.token, Session("x"), now)
    assert (await store.begin(msg(2), now, remember_ms=day)).status == "limited"
    seen = SessionKeys("telegram:42").seen
    assert await redis.zrange(seen, 0, -1, withscores=True) == [
        ("m2", now + DROPPED_REMEMBER_MS),
        ("m1", now + day),
    ]
    assert day - 5000 < await redis.pttl(seen) <= day
    # A redelivery within its window is recognised; after it, the id is forgotten.
    assert (await store.begin(msg(2), now + 1000, remember_ms=day)).status == "duplicate"
    after = now + DROPPED_REMEMBER_MS + 1
    assert (await store.begin(msg(1), after, remember_ms=day)).status == "duplicate"
    assert (await store.begin(msg(2), after, remember_ms=day)).status == "run"
    assert await redis.zscore(seen, "m2") == after + day


async def offer(
    store: SessionStore, times_s: list[float], start_ms: int, first: int = 0
) -> list[str]:
    """Each message at its time (s after ``start_ms``), its handling done at once; statuses."""
    statuses = []
    for n, at in enumerate(times_s, first):
        now = start_ms + int(at * 1000)
        turn = await store.begin(msg(n), now)
        statuses.append(turn.status)
        if turn.status == "run":
            await drain(store, turn, now)
    return statuses


async def test_a_brisk_person_is_never_rate_limited(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    """Issue #16, item 10: 30 messages in bursts of 8 every 20 s (tapping through a booking,
    retyping a NIK a few times) stay within the default limit (the old 20-a-minute window cut
    the 21st off)."""
    settings = load_settings(secret_key="x" * 40)
    store = SessionStore(
        redis, rate_limit=settings.rate_limit_per_minute, rate_burst=settings.rate_limit_burst
    )
    times = [burst * 20 + i * 0.8 for burst in range(4) for i in range(8)][:30]
    statuses = await offer(store, times, ms(clock.now()))
    assert statuses == ["run"] * 30


async def test_a_script_is_limited_after_a_burst_with_one_notice(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    settings = load_settings(secret_key="x" * 40)
    burst = settings.rate_limit_burst
    store = SessionStore(redis, rate_limit=settings.rate_limit_per_minute, rate_burst=burst)
    start = ms(clock.now())
    statuses = await offer(store, [i * 0.05 for i in range(200)], start)  # 200 in 10 s
    assert statuses.count("limited") == 1
    assert statuses[:burst] == ["run"] * burst
    assert statuses.count("run") <= burst + 1
    assert set(statuses[statuses.index("limited") + 1 :]) == {"silenced"}
    # Once the bucket is full again (burst / rate), the account may write again.
    wait_s = burst * 60 / settings.rate_limit_per_minute
    again = await offer(store, [10 + wait_s + 1], start, first=1000)
    assert again == ["run"]


async def test_begin_says_whether_the_users_outbox_holds_replies(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    from bot.core.messages import Text
    from bot.core.outbox import Outbox

    store = SessionStore(redis)
    now = ms(clock.now())
    first = await store.begin(msg(1), now)
    assert first.status == "run" and not first.outbox_pending
    await store.finish("telegram:42", first.token, Session("telegram:42"), now)
    await Outbox(redis).put("telegram", "42", "m1", [Text("late")])
    second = await store.begin(msg(2), now)
    assert second.status == "run" and second.outbox_pending
    # Another user's outbox is not this user's.
    assert not (await store.begin(msg(3, user="43"), now)).outbox_pending


async def test_each_turn_costs_two_round_trips(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    from tests.counting import CountingRedis

    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    store = SessionStore(client)
    # Load the scripts once, as a long-running process would.
    warm = await store.begin(msg(0), ms(clock.now()))
    await store.finish("telegram:42", warm.token, Session("telegram:42"), ms(clock.now()))
    client.round_trips = 0
    for n in range(1, 6):
        turn = await store.begin(msg(n), ms(clock.now()))
        await store.finish("telegram:42", turn.token, Session("telegram:42"), ms(clock.now()))
    assert client.round_trips == 2 * 5
    await client.aclose()


async def test_writes_ride_with_the_save_in_its_round_trip(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    from bot.core.pacing import TAKE
    from bot.core.writes import Write
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
    assert await store.finish("telegram:42", turn.token, session, now, writes) is None
    assert await client.xlen("log") == 1 and await client.get("after") == "yes"
    assert float(await client.hget("bucket", "tat")) == now + 200
    again = await store.begin(msg(2), now)
    loaded = Session.loads("telegram:42", again.raw_session, now_ms=now, idle_ms=60_000)
    assert again.status == "run" and loaded.step == "menu"

    client.round_trips = 0
    assert await store.finish("telegram:42", again.token, session, now, writes[:2]) is None
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


def test_the_memo_survives_going_idle_but_not_an_upgrade() -> None:
    now = 10_000_000
    session = Session("console:x", locale="en", step="menu", data={"a": 1}, memo={"k": 2})
    session.touched_ms = now
    raw = session.dumps()
    assert Session.loads("console:x", raw, now_ms=now, idle_ms=1000).memo == {"k": 2}
    idle = Session.loads("console:x", raw, now_ms=now + 5000, idle_ms=1000)
    assert (idle.restarted, idle.data, idle.memo) == ("expired", {}, {"k": 2})
    old = json.loads(raw) | {"v": SCHEMA_VERSION - 1}
    upgraded = Session.loads("console:x", json.dumps(old), now_ms=now, idle_ms=1000)
    assert (upgraded.restarted, upgraded.memo) == ("upgraded", {})
    odd = json.loads(raw) | {"m": [1, 2]}  # not a mapping: no memo rather than no session
    assert Session.loads("console:x", json.dumps(odd), now_ms=now, idle_ms=1000).memo == {}
    assert "m" not in json.loads(Session("console:x").dumps())  # nothing noted, nothing stored


def test_idle_session_is_small() -> None:
    session = Session("telegram:123456789", locale="id", step="menu", touched_ms=1_900_000_000_000)
    session.offered = [("book", "Ambil antrean"), ("mine", "Antrean saya")]
    assert len(session.dumps()) < 200


async def test_a_message_over_the_limit_still_takes_a_dead_holder_over(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    store = SessionStore(redis, lease_ms=1000, rate_limit=1, rate_burst=2)
    now = ms(clock.now())
    await store.begin(msg(1), now)  # the holder dies on it
    assert (await store.begin(msg(2), now)).status == "queued"
    # The third message is over the limit: it is dropped with the one notice, but the dead
    # holder's messages run.
    turn = await store.begin(msg(3), now + 2000)
    assert turn.status == "run" and turn.retry_after_ms > 0
    assert await drain(store, turn, now + 2000) == ["m1", "m2"]
    assert (await store.begin(msg(4), now + 2001)).status == "silenced"


async def test_the_save_counts_the_users_own_pacing_bucket_itself(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    """A turn's reply count goes to the user's bucket inside the save's script (same slot), and
    to the channel's bucket as a write of its own: the buckets end as two separate takes leave
    them, with one script call fewer."""
    pacer = Pacer(redis, clock, {"telegram": 30.0}, {"telegram": Rate(1.0, 3)})
    store = SessionStore(redis)
    now = ms(clock.now())
    turn = await store.begin(msg(1), now)
    writes = pacer.counting("telegram", "42", 2)
    assert len(writes) == 2
    await redis.config_resetstat()
    await store.finish("telegram:42", turn.token, Session("telegram:42"), now, writes)
    stats = await redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 2  # the save, the channel's bucket
    own = await redis.hget(recipient_key("telegram", "42"), "tat")
    channel = await redis.hget(channel_key("telegram"), "tat")
    assert float(own) == now + 2 * 1000.0
    assert float(channel) == pytest.approx(now + 2 * 1000.0 / 30.0, abs=1)
    # Lease or not, the replies are out: a lost lease still counts them.
    writes = pacer.counting("telegram", "42", 1)
    with pytest.raises(SessionLost):
        await store.finish("telegram:42", turn.token, Session("telegram:42"), now, writes)
    assert float(await redis.hget(recipient_key("telegram", "42"), "tat")) == now + 3 * 1000.0
