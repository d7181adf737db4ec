"""The Telegram channel against a fake Bot API server: webhook hygiene, delivery, rate limits."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.booking.app import Context
from bot.core.clock import ManualClock
from bot.core.dialog import MENU, Prompt, Reply, Steps
from bot.core.messages import Choices, Image, Option, Text
from bot.errors import ChannelError, ConfigError
from bot.infra.embedded import RedisServer, free_port
from bot.infra.keys import ChannelKeys, SessionKeys
from bot.infra.logs import anon
from bot.infra.settings import load_settings
from channels.telegram import TelegramChannel
from channels.telegram.render import (
    MAX_CALLBACK_DATA,
    MAX_TEXT,
    NAV_PREFIX,
    NEXT,
    PAGE_SIZE,
    PREV,
    split_text,
    utf16_len,
)
from channels.telegram.webhook import SECRET_HEADER
from tests.channels.drivers.telegram import (
    CHAT_ID,
    WEBHOOK_SECRET,
    TelegramDriver,
    callback_update,
    open_channel,
    text_update,
)
from tests.fake_telegram import NOW, TOKEN, FakeTelegram
from tests.web_support import run_server


def pages_key(chat_id: str) -> str:
    return ChannelKeys("telegram", chat_id).pages


@pytest.fixture
async def driver(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[TelegramDriver]:
    async with (
        open_channel(redis, clock, tmp_path) as (fake, _, _, base),
        aiohttp.ClientSession() as http,
    ):
        yield TelegramDriver(fake, http, base)


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    async with run_server(fake.app()) as base:
        yield fake, base


class Gate:
    """An injected ``sleep`` that records the wait and blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.waiting = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.waiting.set()
        await self.open.wait()


@pytest.fixture
async def channel_and_fake(
    fake_api: tuple[FakeTelegram, str],
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram, Gate]]:
    fake, base = fake_api
    gate = Gate()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
    channel = TelegramChannel(bot, WEBHOOK_SECRET, sleep=gate)
    try:
        yield channel, fake, gate
    finally:
        await channel.aclose()


async def telegram_keys(redis: aioredis.Redis) -> list[str]:
    return [key async for key in redis.scan_iter("*telegram:*")]


# -- webhook hygiene --------------------------------------------------------------------------


async def test_missing_or_wrong_secret_is_refused_and_nothing_is_stored(
    driver: TelegramDriver, redis: aioredis.Redis
) -> None:
    assert await driver.post(text_update("halo"), secret=None) == 401
    assert await driver.post(text_update("halo"), secret="not-the-secret") == 403
    assert await driver.post(text_update("halo"), secret="") == 403
    assert driver.fake.calls == []
    assert await telegram_keys(redis) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'{"hello": "world"}', "application/json", 400),
        (b'{"update_id": "x"}', "application/json", 400),
        (b'{"update_id": 1}', "text/plain", 415),
        (b'{"update_id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}', "application/json", 413),
    ],
)
async def test_bad_bodies_get_4xx_and_the_server_keeps_serving(
    driver: TelegramDriver, body: bytes, content_type: str, status: int
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": content_type}
    async with driver.http.post(driver.url, data=io.BytesIO(body), headers=headers) as response:
        assert response.status == status
    seen = await driver.type("halo")
    assert "Selamat datang" in seen.all_text


async def test_a_chunked_body_over_the_limit_is_cut_off(driver: TelegramDriver) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"update_id": 1, "pad": "'
        for _ in range(40):
            yield b"x" * 32 * 1024
        yield b'"}'

    headers = {
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
        "Content-Type": "application/json",
    }
    async with driver.http.post(driver.url, data=chunks(), headers=headers) as response:
        assert response.status == 413
    assert "Selamat datang" in (await driver.type("halo")).all_text


async def test_a_redelivered_update_is_answered_once(driver: TelegramDriver) -> None:
    update = text_update("halo")
    assert await driver.post(update) == 200
    one_reply = len(driver.fake.calls)
    assert one_reply >= 1
    for _ in range(2):
        assert await driver.post(update) == 200
    assert len(driver.fake.calls) == one_reply


async def test_commands_are_words_with_slash_and_bot_name_stripped(
    driver: TelegramDriver,
) -> None:
    seen = await driver.type("/start@AntreanBot")
    assert "Ambil antrean" in seen.options
    seen = await driver.type("/language")
    assert "English" in seen.options


async def test_callback_is_answered_and_its_keyboard_removed(driver: TelegramDriver) -> None:
    await driver.type("halo")
    message_id, data = driver.keyboard
    seen = await driver.choose(1)
    assert "Paspor baru" in seen.options
    answers = driver.fake.of("answerCallbackQuery")
    assert len(answers) == 1 and answers[0].params["callback_query_id"].startswith("cq")
    # The answer was the webhook's reply (Telegram makes the call), not a request of ours.
    update = callback_update(data[0], message_id)
    async with driver.http.post(
        driver.url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
    ) as response:
        assert response.status == 200
        assert await response.json() == {
            "method": "answerCallbackQuery",
            "callback_query_id": update["callback_query"]["id"],
        }
    assert len(driver.fake.of("answerCallbackQuery")) == 1
    edit = driver.fake.of("editMessageReplyMarkup")[0]
    assert edit.params["message_id"] == str(message_id)
    assert "reply_markup" not in edit.params
    # A stale tap on the old keyboard (it raced the removal) is answered and harms nothing.
    before = len(driver.fake.calls)
    assert await driver.post(callback_update(data[0], message_id)) == 200
    assert len(driver.fake.of("answerCallbackQuery")) == 2
    assert driver.fake.calls[before:]


STICKER = {
    "file_id": "s1",
    "file_unique_id": "su1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}


def sticker_update(chat_id: int = CHAT_ID) -> dict[str, Any]:
    update = text_update("", chat_id)
    del update["message"]["text"]
    update["message"]["sticker"] = STICKER
    return update


async def test_edited_messages_are_ignored_and_stickers_asked_again(
    driver: TelegramDriver,
) -> None:
    edited = text_update("halo")
    edited["edited_message"] = {**edited.pop("message"), "edit_date": NOW + 5}
    assert await driver.post(edited) == 200
    assert driver.fake.calls == []
    await driver.type("halo")
    seen = await driver.deliver(sticker_update())
    # The engine answered it: it cannot read stickers, and asks the question again.
    assert "hanya bisa membaca teks" in seen.all_text and "Ambil antrean" in seen.options


@pytest.mark.parametrize(
    "content",
    [
        {"sticker": STICKER},
        {"photo": [{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]},
        {"location": {"latitude": -6.2, "longitude": 106.8}},
        {"document": {"file_id": "d", "file_unique_id": "du"}},
        {"voice": {"file_id": "v", "file_unique_id": "vu", "duration": 2}},
        {"new_kind_of_content": {"x": 1}},
    ],
)
async def test_every_kind_of_message_is_answered_once_even_when_redelivered(
    driver: TelegramDriver, content: dict[str, Any]
) -> None:
    update = text_update("", CHAT_ID)
    del update["message"]["text"]
    update["message"].update(content)
    for _ in range(5):  # Telegram redelivers
        assert await driver.post(update) == 200
    assert len(driver.fake.of("sendMessage")) == 1


async def test_stickers_count_in_the_rate_limit(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with (
        open_channel(redis, clock, tmp_path, rate_limit_per_minute=5, rate_limit_burst=5) as (
            fake,
            _,
            _,
            base,
        ),
        aiohttp.ClientSession() as http,
    ):
        driver = TelegramDriver(fake, http, base)
        for _ in range(40):
            assert await driver.post(sticker_update()) == 200
        # Five answered, one cool-down notice, the rest silenced.
        assert len(fake.of("sendMessage")) == 6
        # Taps count too: the user is silenced until the window ends.
        assert await driver.post(callback_update("book", 1)) == 200
        assert len(fake.of("sendMessage")) == 6


async def test_group_messages_are_ignored(driver: TelegramDriver, redis: aioredis.Redis) -> None:
    update = text_update("halo")
    update["message"]["chat"] = {"id": -100123, "title": "Warga RT 05", "type": "supergroup"}
    assert await driver.post(update) == 200
    assert driver.fake.calls == []
    assert await telegram_keys(redis) == []


# -- sending ----------------------------------------------------------------------------------


def test_split_text_on_lines_and_in_utf16_units() -> None:
    text = "\n".join(f"baris {i:04d} " + "x" * 40 for i in range(200))
    pieces = split_text(text)
    assert len(pieces) == 3
    assert all(utf16_len(p) <= MAX_TEXT for p in pieces)
    assert "\n".join(pieces) == text
    # One emoji is two UTF-16 units: 3000 of them need two messages.
    emoji = split_text("🙂" * 3000)
    assert len(emoji) == 2 and "".join(emoji) == "🙂" * 3000
    assert split_text("pendek") == ["pendek"]


async def test_long_text_is_split_and_sent_without_parse_mode(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, _ = channel_and_fake
    text = "<b>Budi & Sons</b>\n" + "\n".join("y" * 100 for _ in range(50))
    await channel.send("42", [Text(text)])
    sends = fake.of("sendMessage", 42)
    assert len(sends) == 2
    assert "\n".join(c.params["text"] for c in sends) == text
    assert all("parse_mode" not in c.params for c in sends)


async def test_choices_become_buttons_and_images_photos(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, _ = channel_and_fake
    options = [Option("2030-03-06", "Rabu, 6 Maret", "5 kursi"), Option("book", "Ambil")]
    await channel.send("42", [Choices("Pilih", options), Image(b"\x89PNG..", "Kode A-001")])
    [choice, photo] = fake.calls
    assert choice.params["reply_markup"]["inline_keyboard"] == [
        [{"text": "Rabu, 6 Maret (5 kursi)", "callback_data": "2030-03-06"}],
        [{"text": "Ambil", "callback_data": "book"}],
    ]
    assert photo.method == "sendPhoto" and photo.params["caption"] == "Kode A-001"
    assert list(photo.files.values()) == [b"\x89PNG.."]


async def test_without_redis_a_long_list_is_sent_unpaged(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, _ = channel_and_fake
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 16)]
    await channel.send("42", [Choices("Pilih", options)])
    [choice] = fake.calls
    rows = choice.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in rows] == [o.id for o in options]


async def test_a_rate_limited_chat_does_not_delay_another(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, gate = channel_and_fake
    fake.rate_limit(111, times=1, retry_after=3)
    first = asyncio.create_task(channel.send("111", [Text("satu")]))
    await asyncio.wait_for(gate.waiting.wait(), 5)
    # While chat 111 waits out its 429, chat 222 is served.
    await asyncio.wait_for(channel.send("222", [Text("dua")]), 5)
    assert not first.done()
    assert [c.params["text"] for c in fake.of("sendMessage", 222)] == ["dua"]
    gate.open.set()
    await asyncio.wait_for(first, 5)
    assert gate.waits == [3.0]
    assert len(fake.of("sendMessage", 111)) == 2


async def test_server_errors_are_retried_a_bounded_number_of_times(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, gate = channel_and_fake
    gate.open.set()
    fake.fail(2)
    await channel.send("42", [Text("akhirnya")])
    assert len(fake.of("sendMessage")) == 3
    fake.fail(10)
    with pytest.raises(ChannelError) as caught:
        await channel.send("42", [Text("gagal")])
    assert caught.value.code == "unavailable"
    assert len(fake.of("sendMessage")) == 6
    assert gate.waits == [0.5, 1.0, 0.5, 1.0]


async def test_exhausted_retries_are_logged_once_without_chat_id_or_token(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, fake, gate = channel_and_fake
    gate.open.set()
    fake.fail(10)
    with caplog.at_level(logging.INFO, logger="channels.telegram"), pytest.raises(ChannelError):
        await channel.send("4242", [Text("gagal")])
    [record] = [r for r in caplog.records if r.name == "channels.telegram"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    pseudonym = anon("telegram:4242")
    assert "sendMessage" in message and pseudonym in message
    assert "4242" not in message.replace(pseudonym, "") and TOKEN not in message


async def test_a_long_rate_limit_gives_up_with_retry_after(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, gate = channel_and_fake
    fake.rate_limit(42, times=1, retry_after=600)
    with pytest.raises(ChannelError) as caught:
        await channel.send("42", [Text("nanti")])
    assert caught.value.retry_after == 600 and gate.waits == []


async def test_set_webhook_and_commands(
    channel_and_fake: tuple[TelegramChannel, FakeTelegram, Gate],
) -> None:
    channel, fake, _ = channel_and_fake
    await channel.set_webhook("https://antrean.example/webhook/telegram")
    [hook] = fake.of("setWebhook")
    assert hook.params["secret_token"] == WEBHOOK_SECRET
    assert hook.params["allowed_updates"] == ["message", "callback_query"]
    await channel.set_commands()
    calls = fake.of("setMyCommands")
    assert [c.params.get("language_code") for c in calls] == ["id", "en", None]
    assert [c["command"] for c in calls[1].params["commands"]] == [
        "start",
        "menu",
        "help",
        "language",
    ]
    assert calls[1].params["commands"][3]["description"] == "Change language"


def test_from_settings_needs_a_valid_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_TOKEN"):
        TelegramChannel.from_settings(load_settings(var_dir=tmp_path))
    with pytest.raises(ConfigError, match="TELEGRAM_TOKEN"):
        TelegramChannel.from_settings(load_settings(var_dir=tmp_path, telegram_token="nope"))


# -- long option ids and paged keyboards ------------------------------------------------------


@dataclass
class Offer:
    """A step that offers fixed options and says which option id reached it."""

    name: str
    options: tuple[Option, ...]
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt("Pilih satu", self.options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.say(f"dipilih: {reply.option}")
        return self.name


def offering(options: list[Option]) -> Steps:
    steps = Steps()
    steps.add(Offer(MENU, tuple(options)))
    steps.add(Offer("language", (Option("id", "Bahasa Indonesia"),)))
    return steps


@asynccontextmanager
async def driving(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, steps: Steps, **settings: Any
) -> AsyncIterator[TelegramDriver]:
    async with (
        open_channel(redis, clock, tmp_path, steps, **settings) as (fake, _, _, base),
        aiohttp.ClientSession() as http,
    ):
        yield TelegramDriver(fake, http, base)


async def test_a_long_option_id_fits_in_callback_data_and_reaches_the_step(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    long_id = "slot-" + "x" * 95
    assert len(long_id.encode()) == 100
    steps = offering([Option(long_id, "Panjang"), Option("pendek", "Pendek")])
    async with driving(redis, clock, tmp_path, steps) as driver:
        seen = await driver.type("halo")
        assert seen.options == ["Panjang", "Pendek"]
        _, data = driver.keyboard
        assert len(data[0].encode()) <= MAX_CALLBACK_DATA and data[0] != long_id
        assert data[1] == "pendek"
        seen = await driver.choose(1)
        assert f"dipilih: {long_id}" in seen.all_text


async def test_a_long_list_is_paged_and_turning_pages_never_changes_the_session(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 16)]
    async with driving(redis, clock, tmp_path, offering(options)) as driver:
        fake = driver.fake
        await driver.type("halo")
        [choice] = [c for c in fake.of("sendMessage") if "reply_markup" in c.params]
        rows = choice.params["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in rows[:-1]] == [f"Pilihan {i}" for i in range(1, 9)]
        assert [(b["text"], b["callback_data"]) for b in rows[-1]] == [
            ("1/2", f"{NAV_PREFIX}-"),
            (NEXT, f"{NAV_PREFIX}1"),
        ]
        message_id = driver.sent_message_id(choice)
        stored = json.loads(await redis.get(pages_key(str(CHAT_ID))))
        assert stored["message_id"] == message_id and len(stored["options"]) == 15
        assert stored["options"][8] == {"id": "o9", "title": "Pilihan 9", "description": ""}
        assert 86000 < await redis.ttl(pages_key(str(CHAT_ID))) <= 86400
        session_key = SessionKeys(f"telegram:{CHAT_ID}").session
        # One Redis Cluster slot with the user's session: the same {hash tag}.
        assert pages_key(str(CHAT_ID)).split("}")[0] == session_key.split("}")[0]
        session = await redis.get(session_key)

        before = len(fake.calls)
        seen = await driver.turn_page(NEXT)
        # The answer to the tap rides on the webhook's reply, so Telegram makes it last.
        assert [c.method for c in fake.calls[before:]] == [
            "editMessageReplyMarkup",
            "answerCallbackQuery",
        ]
        edit = fake.calls[before]
        assert edit.params["message_id"] == str(message_id)
        assert seen.options == [f"Pilihan {i}" for i in range(9, 16)]
        assert driver.nav == [(PREV, f"{NAV_PREFIX}0"), ("2/2", f"{NAV_PREFIX}-")]
        assert seen.texts == [] and await redis.get(session_key) == session
        # The "n/N" button leads nowhere: answered, and the keyboard stays.
        before = len(fake.calls)
        assert await driver.post(callback_update(f"{NAV_PREFIX}-", message_id)) == 200
        assert [c.method for c in fake.calls[before:]] == ["answerCallbackQuery"]

        seen = await driver.turn_page(PREV)
        assert seen.options == [f"Pilihan {i}" for i in range(1, PAGE_SIZE + 1)]
        await driver.turn_page(NEXT)
        # An option of page 2 is an ordinary tap: answered, keyboard removed, handed on.
        before = len(fake.calls)
        seen = await driver.choose(4)
        assert fake.calls[before].method == "editMessageReplyMarkup"
        assert fake.calls[-1].method == "answerCallbackQuery"
        assert "reply_markup" not in fake.calls[before].params
        assert "dipilih: o12" in seen.all_text
        # The step asked again: a new paged keyboard, remembered in place of the old one.
        new_id, _ = driver.keyboard
        assert new_id != message_id
        stored = json.loads(await redis.get(pages_key(str(CHAT_ID))))
        assert stored["message_id"] == new_id

        # NEXT on the old message is stale: answered, its keyboard removed, the engine untouched.
        session = await redis.get(session_key)
        before = len(fake.calls)
        assert await driver.post(callback_update(f"{NAV_PREFIX}1", message_id)) == 200
        stale = fake.calls[before:]
        assert [c.method for c in stale] == ["editMessageReplyMarkup", "answerCallbackQuery"]
        assert stale[0].params["message_id"] == str(message_id)
        assert "reply_markup" not in stale[0].params
        assert await redis.get(session_key) == session

        # With nothing stored (expired), the same.
        await redis.delete(pages_key(str(CHAT_ID)))
        before = len(fake.calls)
        assert await driver.post(callback_update(f"{NAV_PREFIX}1", new_id)) == 200
        stale = fake.calls[before:]
        assert [c.method for c in stale] == ["editMessageReplyMarkup", "answerCallbackQuery"]
        assert "reply_markup" not in stale[0].params


async def test_short_lists_are_not_paged_or_stored(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, PAGE_SIZE + 1)]
    async with driving(redis, clock, tmp_path, offering(options)) as driver:
        seen = await driver.type("halo")
        assert seen.options == [o.title for o in options] and driver.nav == []
        assert await redis.get(pages_key(str(CHAT_ID))) is None


async def test_a_date_on_the_second_page_books_on(driver: TelegramDriver) -> None:
    await driver.type("halo")
    await driver.choose(1)
    seen = await driver.choose(1)
    assert "Pilih tanggal" in seen.all_text and len(seen.options) == PAGE_SIZE
    seen = await driver.turn_page(NEXT)
    day = seen.options[0]
    seen = await driver.choose(1)
    assert "Pilih jam" in seen.all_text and seen.options
    assert day.split(" (")[0] in seen.all_text


# -- Redis outage -----------------------------------------------------------------------------


async def test_redis_down_answers_503_and_the_redelivery_completes(
    clock: ManualClock, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        async with (
            open_channel(client, clock, tmp_path) as (fake, _, _, base),
            aiohttp.ClientSession() as http,
        ):
            driver = TelegramDriver(fake, http, base)
            server.stop()
            update = text_update("halo")
            assert await driver.post(update) == 503
            assert fake.calls == []
            server = RedisServer(server.data_dir, port=server.port)
            server.start()
            statuses = [await driver.post(update)]
            # A pooled connection may still point at the old server once; the next try is fresh.
            if statuses[-1] == 503:
                statuses.append(await driver.post(update))
            assert statuses[-1] == 200
            assert "Selamat datang" in driver.seen(fake.calls).all_text
            # Telegram would retry the 503 again later; by then it is a known duplicate.
            replied = len(fake.calls)
            assert await driver.post(update) == 200
            assert len(fake.calls) == replied
    finally:
        await client.aclose()
        server.stop()


async def test_polling_handles_each_update_once_in_order(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with open_channel(redis, clock, tmp_path) as (fake, app, channel, _):
        from bot.core.engine import Engine
        from handlers import build_steps
        from tests.channels.drivers.telegram import callback_update, text_update

        engine = Engine(app, build_steps(), {"telegram": channel})
        tap = callback_update("en", 3, 555)
        fake.pending = [text_update("halo", 555, 1), text_update("bahasa", 555, 2), tap]
        stop = asyncio.Event()

        async def stop_when_done() -> None:
            # The fake answers getUpdates at once; look again after each short pause.
            for _ in range(1000):
                if fake.of("answerCallbackQuery"):
                    break
                await asyncio.sleep(0.01)
            stop.set()

        watcher = asyncio.create_task(stop_when_done())
        await asyncio.wait_for(channel.poll(engine.handle, stop, wait=0), 10)
        await watcher
        texts = [c.params["text"] for c in fake.of("sendMessage", 555)]
        assert "Selamat datang" in texts[0] and "Pilih bahasa" in texts[1]
        assert fake.of("deleteWebhook")
        # No webhook reply to carry the tap's answer: the channel made the call itself.
        [answer] = fake.of("answerCallbackQuery")
        assert answer.params["callback_query_id"] == tap["callback_query"]["id"]


# -- malformed updates: 400, never 500 --------------------------------------------------------


async def post_raw(driver: TelegramDriver, body: bytes) -> int:
    headers = {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}
    async with driver.http.post(driver.url, data=body, headers=headers) as response:
        return response.status


@pytest.mark.parametrize(
    "body",
    [
        # A lone surrogate: no platform sends one, and it could never be stored or logged.
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "\\ud800",'
        b' "chat": {"id": 5550001, "type": "private"}}}',
        b'{"update_id": 1, "x": "\\udc00"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": "5550001"}}}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "text": ["halo"],'
        b' "chat": {"id": 5550001, "type": "private"}}}',
        b'{"update_id": 1, "callback_query": {"id": 7, "from": {"id": 1}}}',
        b'{"update_id": true}',
        b'"\\xff"',
        b"\xff\xfe",
    ],
)
async def test_malformed_updates_are_bad_requests_and_nothing_is_stored(
    driver: TelegramDriver, redis: aioredis.Redis, body: bytes
) -> None:
    assert await post_raw(driver, body) == 400
    assert driver.fake.calls == []
    assert await telegram_keys(redis) == []


async def test_page_turns_are_de_duplicated_and_rate_limited_like_any_message(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    """Issue #12, finding 4: page turns edited the keyboard once per delivery, with no limit."""
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 16)]
    steps = offering(options)
    async with driving(
        redis, clock, tmp_path, steps, rate_limit_per_minute=5, rate_limit_burst=5
    ) as driver:
        await driver.type("halo")
        message_id, _ = driver.keyboard
        turn = callback_update(f"{NAV_PREFIX}1", message_id)
        for _ in range(5):  # Telegram redelivers the same update
            assert await driver.post(turn) == 200
        assert len(driver.fake.of("editMessageReplyMarkup")) == 1
        # A script tapping the arrows: past the limit, one notice, then nothing at all.
        for i in range(40):
            assert await driver.post(callback_update(f"{NAV_PREFIX}{i % 2}", message_id)) == 200
        edits = len(driver.fake.of("editMessageReplyMarkup"))
        assert edits <= 5, edits
        notices = [c for c in driver.fake.of("sendMessage") if "terlalu banyak" in str(c.params)]
        assert len(notices) == 1


@pytest.mark.parametrize(
    "page", ["²", "\U00010a40", "\u0661", "99999999999999999999", "-1", " 1", ""]
)
async def test_a_paging_tap_with_odd_digits_changes_nothing(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, page: str
) -> None:
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 16)]
    async with driving(redis, clock, tmp_path, offering(options)) as driver:
        await driver.type("halo")
        message_id, _ = driver.keyboard
        before = len(driver.fake.calls)
        assert await driver.post(callback_update(f"{NAV_PREFIX}{page}", message_id)) == 200
        assert [c.method for c in driver.fake.calls[before:]] == ["answerCallbackQuery"]
