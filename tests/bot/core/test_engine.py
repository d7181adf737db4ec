from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio import BlockingConnectionPool

from bot.core.clock import ManualClock, ms
from bot.core.deps import Deps
from bot.core.dialog import MENU, Prompt, Reply, Steps
from bot.core.engine import LOCATION_SHOWN, Engine, withdraw_location_request
from bot.core.messages import LOCATION, AskLocation, Choices, Inbound, Text
from bot.core.sessions import Session
from bot.infra.embedded import RedisServer
from bot.infra.keys import SessionKeys
from tests.bot.core.tinybot import Context, tiny_deps, tiny_engine
from tests.counting import CountingRedis
from tests.support import Recorder, User, said


class Echo:
    """A step that records what it was given, and yields to the event loop while it works so
    that concurrent turns would interleave if the engine let them."""

    goes_to = ()

    def __init__(self, name: str, log: list[str], active: list[int]) -> None:
        self.name = name
        self.log = log
        self.active = active

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt("say something", free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        self.active.append(1)
        assert len(self.active) == 1, "two turns of one user ran at the same time"
        for _ in range(3):
            await asyncio.sleep(0)
        self.log.append(reply.text)
        self.active.pop()
        return MENU


def echo_steps(log: list[str]) -> Steps:
    active: list[int] = []
    steps = Steps()
    steps.add(Echo(MENU, log, active))
    steps.add(Echo("language", log, active))
    return steps


async def test_ten_messages_at_once_are_handled_one_by_one_in_order_across_processes(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    # One connection per "process" so that arrival order at Redis is the order of sending.
    pool = BlockingConnectionPool.from_url(
        redis_server.url, max_connections=1, decode_responses=True
    )
    client = aioredis.Redis(connection_pool=pool)
    await client.flushall()
    log: list[str] = []
    app = tiny_deps(client, clock, tmp_path)
    first, second = (Engine(app, echo_steps(log), {"console": Recorder()}) for _ in range(2))
    await first.handle(Inbound("console", "u", "hello", "hello"))  # greeting turn
    log.clear()
    messages = [Inbound("console", "u", f"m{n}", str(n)) for n in range(10)]
    outcomes = await asyncio.gather(
        *((first if n % 2 else second).handle(m) for n, m in enumerate(messages))
    )
    assert log == [str(n) for n in range(10)]
    assert outcomes.count("handled") >= 1 and set(outcomes) <= {"handled", "queued"}
    await client.aclose()
    await pool.disconnect()


async def test_a_message_delivered_twice_is_handled_once(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    engine, recorder = tiny_engine(tiny_deps(redis, clock, tmp_path))
    inbound = Inbound("console", "u", "same-id", "halo")
    assert await engine.handle(inbound) == "handled"
    sent = len(recorder.sent["u"])
    assert await engine.handle(inbound) == "duplicate"
    assert await engine.handle(inbound) == "duplicate"
    assert len(recorder.sent["u"]) == sent


async def test_a_menu_turn_costs_two_redis_round_trips(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    engine, recorder = tiny_engine(tiny_deps(client, clock, tmp_path))
    user = User(engine, recorder)
    await user.says("halo")
    for word in ("bahasa", "English", "menu", "3", "1"):  # language, menu, colour
        client.round_trips = 0
        await user.says(word)
        assert client.round_trips == 2, word
    await client.aclose()


async def test_a_memo_outlives_the_conversation_at_no_extra_round_trip(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    engine, recorder = tiny_engine(tiny_deps(client, clock, tmp_path))
    user = User(engine, recorder)

    async def memo() -> dict[str, object]:
        raw = await client.get(SessionKeys("console:1001").session)
        return Session.loads("console:1001", raw, now_ms=ms(clock.now()), idle_ms=10**12).memo

    await user.says("halo")
    await user.says("3")  # colour
    client.round_trips = 0
    await user.says("2")  # blue: noted with the turn's save
    assert client.round_trips == 2
    assert await memo() == {"colour": "blue"}
    for word in ("batal", "menu", "2"):  # a cancel, a reset, another conversation
        await user.says(word)
    assert await memo() == {"colour": "blue"}
    clock.advance(timedelta(minutes=engine.deps.settings.session_idle_minutes + 1))
    assert "Apa yang ingin" in await user.says("halo")  # restarted after going idle
    assert await memo() == {"colour": "blue"}
    await client.aclose()


async def test_a_step_that_crashes_leaves_the_user_at_the_menu(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    class Broken:
        name = MENU
        goes_to = ()

        async def ask(self, ctx: Context) -> Prompt:
            return Prompt("menu", free_text=True)

        async def answer(self, ctx: Context, reply: Reply) -> str:
            raise RuntimeError("bug")

    steps = Steps()
    steps.add(Broken())
    steps.add(Echo("language", [], []))
    recorder = Recorder()
    app: Deps = tiny_deps(redis, clock, tmp_path)
    engine = Engine(app, steps, {"console": recorder})
    await engine.handle(Inbound("console", "u", "1", "hi"))
    assert await engine.handle(Inbound("console", "u", "2", "boom")) == "handled"
    texts = said(recorder, "u")
    assert any("kesalahan" in t for t in texts)
    # The lease was released: the next message is handled, not queued forever.
    assert await engine.handle(Inbound("console", "u", "3", "again")) == "handled"


async def test_long_option_ids_travel_as_tokens(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from bot.core.messages import MAX_OPTION_BYTES, Option, option_token

    long_id = "service-" + "x" * 80

    class Pick:
        name = MENU
        goes_to = ()

        async def ask(self, ctx: Context) -> Prompt:
            return Prompt("pick", [Option(long_id, "Long"), Option("short", "Short")])

        async def answer(self, ctx: Context, reply: Reply) -> str:
            ctx.say(f"got {reply.option}")
            return MENU

    steps = Steps()
    steps.add(Pick())
    steps.add(Echo("language", [], []))
    recorder = Recorder()
    engine = Engine(tiny_deps(redis, clock, tmp_path), steps, {"console": recorder})
    await engine.handle(Inbound("console", "u", "1", "hi"))
    token = option_token(long_id)
    assert token != long_id and len(token.encode()) <= MAX_OPTION_BYTES
    assert option_token("short") == "short"
    await engine.handle(Inbound("console", "u", "2", option=token))
    texts = said(recorder, "u")
    assert any(f"got {long_id}" in t for t in texts)


async def test_commands_run_and_fall_through_when_not_for_this_user(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    log: list[str] = []
    steps = echo_steps(log)

    async def secret(ctx: Context, args: str) -> str | None:
        if ctx.user_id != "boss":
            return None  # looks like any other text to everyone else
        ctx.say(f"secret {args}")
        return MENU

    steps.command("secret", secret)
    recorder = Recorder()
    engine = Engine(tiny_deps(redis, clock, tmp_path), steps, {"console": recorder})
    for user in ("boss", "someone"):
        await engine.handle(Inbound("console", user, f"{user}-1", "hi"))
        await engine.handle(Inbound("console", user, f"{user}-2", "/secret 42"))
    boss = said(recorder, "boss")
    other = said(recorder, "someone")
    assert any("secret 42" in t for t in boss) and not any("secret" in t for t in other)
    assert log == ["/secret 42"]  # the applicant's text went to the step like any other


async def test_a_flood_gets_one_cooldown_notice_then_silence_until_the_bucket_is_full(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = tiny_deps(redis, clock, tmp_path, rate_limit_per_minute=5, rate_limit_burst=5)
    engine, recorder = tiny_engine(app)
    for n in range(12):
        assert await engine.handle(Inbound("console", "u", f"m{n}", "bantuan")) == "handled"
    texts = said(recorder, "u")
    assert sum("terlalu banyak" in t for t in texts) == 1
    assert sum("Kata yang selalu" in t for t in texts) == 5  # the 5 messages allowed
    sent = len(recorder.sent["u"])
    # A redelivery of a dropped message is not counted or answered again.
    assert await engine.handle(Inbound("console", "u", "m11", "bantuan")) == "duplicate"
    clock.advance(61)
    await engine.handle(Inbound("console", "u", "later", "bantuan"))
    assert len(recorder.sent["u"]) > sent
    # Someone else is not affected by this user's flood.
    await engine.handle(Inbound("console", "v", "v1", "halo"))
    assert recorder.sent["v"]


def test_the_first_text_takes_back_a_location_request_once_it_is_no_longer_asked() -> None:
    """A request for the user's location stays on screen (Telegram's reply keyboard) until a text
    of a turn that no longer asks for one takes it back; turns of buttons only leave it."""
    session = Session("console:u")
    typed = Inbound("console", "u", "m1", "Makassar")
    asked = [Choices("Kantor mana?"), AskLocation("Bagikan lokasi", "📍")]
    assert withdraw_location_request(session, typed, asked) == asked
    assert LOCATION_SHOWN in session.memo
    # The same step asked again (a typed answer it could not use): still asked.
    session.data["_loc"] = "office"
    again = [Text("Tidak ditemukan."), Choices("Kantor mana?")]
    assert withdraw_location_request(session, typed, again) == again
    session.data.pop("_loc")
    assert withdraw_location_request(session, typed, [Choices("Layanan?")]) == [Choices("Layanan?")]
    assert LOCATION_SHOWN in session.memo
    nik = [Text("Ketik NIK."), Text("Contoh: 3171…")]
    assert withdraw_location_request(session, typed, nik) == [
        Text("Ketik NIK.", ends_location_request=True),
        Text("Contoh: 3171…"),
    ]
    # Once.
    assert LOCATION_SHOWN not in session.memo
    assert withdraw_location_request(session, typed, [Text("Nama?")]) == [Text("Nama?")]


def test_a_shared_location_has_hidden_its_request_already() -> None:
    session = Session("console:u", memo={LOCATION_SHOWN: 1})
    shared = Inbound("console", "u", "m2", kind=LOCATION, location=(-6.2, 106.8))
    assert withdraw_location_request(session, shared, [Text("Pilih kantor.")]) == [
        Text("Pilih kantor.")
    ]
    assert LOCATION_SHOWN not in session.memo
