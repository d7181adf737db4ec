"""The Telegram channel's driver: Bot API updates POSTed to our webhook, replies read back from a
fake Bot API server that the channel's aiogram Bot talks to."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bot.booking.app import App
from bot.core.channel import Notice
from bot.core.clock import ManualClock
from bot.core.dialog import Steps
from bot.core.engine import Engine
from bot.web import build_web_app
from channels.telegram import TelegramChannel
from channels.telegram.render import NAV_PREFIX
from channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from handlers import build_steps
from tests.channels.drivers import Seen
from tests.fake_telegram import BOT_USER, NOW, TOKEN, Call, FakeTelegram
from tests.support import make_app
from tests.web_support import run_server

WEBHOOK_SECRET = "webhook-secret_for-tests"
CHAT_ID = 5550001
# Update ids are unique per bot, across every driver in the test session.
_update_ids = itertools.count(700_000)


def private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Budi", "type": "private"}


def user(chat_id: int, language: str = "id") -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Budi", "language_code": language}


def text_update(text: str, chat_id: int = CHAT_ID, update_id: int | None = None) -> dict[str, Any]:
    update_id = next(_update_ids) if update_id is None else update_id
    message = {
        "message_id": update_id % 100_000,
        "from": user(chat_id),
        "chat": private_chat(chat_id),
        "date": NOW,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def callback_update(data: str, message_id: int, chat_id: int = CHAT_ID) -> dict[str, Any]:
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": user(chat_id),
            "chat_instance": "-1234567890",
            "message": {
                "message_id": message_id,
                "from": BOT_USER,
                "chat": private_chat(chat_id),
                "date": NOW,
                "text": "…",
            },
            "data": data,
        },
    }


def location_update(lat: float, lon: float, chat_id: int = CHAT_ID) -> dict[str, Any]:
    """A message sharing a location (the reply keyboard's request_location button sends one)."""
    update_id = 880_000 + int(abs(lat * 1000)) % 1000
    message = {
        "message_id": update_id,
        "from": user(chat_id),
        "chat": private_chat(chat_id),
        "date": NOW,
        "location": {"latitude": lat, "longitude": lon},
    }
    return {"update_id": update_id, "message": message}


class TelegramDriver:
    def __init__(
        self,
        fake: FakeTelegram,
        http: aiohttp.ClientSession,
        base: str,
        channel: TelegramChannel | None = None,
    ) -> None:
        self.fake = fake
        self.channel = channel
        self.http = http
        self.url = base + WEBHOOK_PATH
        # The latest inline keyboard: (message id, callback data of each option button), and
        # the page it shows: (button text, callback data) of its navigation row.
        self.keyboard: tuple[int, list[str]] = (0, [])
        self.nav: list[tuple[str, str]] = []

    async def post(self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.http.post(self.url, json=update, headers=headers) as response:
            if response.status == 200 and response.content_type == "application/json":
                self.fake.webhook_reply(await response.json())
            return response.status

    async def deliver(self, update: dict[str, Any]) -> Seen:
        before = len(self.fake.calls)
        status = await self.post(update)
        assert status == 200, status
        return self.seen(self.fake.calls[before:])

    def seen(self, calls: list[Call]) -> Seen:
        seen = Seen()
        for call in calls:
            if call.method == "sendPhoto":
                seen.images += 1
                if call.params.get("caption"):
                    seen.texts.append(call.params["caption"])
            elif call.method == "sendMessage":
                seen.texts.append(call.params["text"])
                markup = call.params.get("reply_markup", {})
                rows = markup.get("inline_keyboard", [])
                if rows:
                    self.show(seen, self.sent_message_id(call), rows)
                buttons = [b for row in markup.get("keyboard", []) for b in row]
                if any(b.get("request_location") for b in buttons):
                    seen.location_asked = True
            elif call.method == "editMessageReplyMarkup":
                # Another page of the same keyboard (an edit without markup removes it).
                rows = call.params.get("reply_markup", {}).get("inline_keyboard", [])
                if rows:
                    self.show(seen, int(call.params["message_id"]), rows)
        return seen

    def show(self, seen: Seen, message_id: int, rows: list[list[dict[str, str]]]) -> None:
        buttons = [button for row in rows for button in row]
        options = [b for b in buttons if not b["callback_data"].startswith(NAV_PREFIX)]
        seen.options = [b["text"] for b in options]
        self.keyboard = (message_id, [b["callback_data"] for b in options])
        self.nav = [
            (b["text"], b["callback_data"])
            for b in buttons
            if b["callback_data"].startswith(NAV_PREFIX)
        ]

    def sent_message_id(self, call: Call) -> int:
        assert call.result is not None, "the fake refused this send"
        message_id: int = call.result["message_id"]
        return message_id

    async def type(self, text: str) -> Seen:
        return await self.deliver(text_update(text))

    async def share(self, lat: float, lon: float) -> Seen:
        return await self.deliver(location_update(lat, lon))

    async def notify(self, notice: Notice) -> Seen:
        assert self.channel is not None, "a driver opened without its channel"
        before = len(self.fake.calls)
        await self.channel.notify(str(CHAT_ID), notice)
        return self.seen(self.fake.calls[before:])

    async def choose(self, number: int) -> Seen:
        """Tap option ``number`` (1-based) of the page of buttons on screen."""
        message_id, data = self.keyboard
        return await self.deliver(callback_update(data[number - 1], message_id))

    async def turn_page(self, arrow: str) -> Seen:
        """Tap the navigation button labelled ``arrow`` (PREV or NEXT) under the latest keyboard."""
        message_id, _ = self.keyboard
        [data] = [d for text, d in self.nav if text == arrow]
        return await self.deliver(callback_update(data, message_id))


@asynccontextmanager
async def open_channel(
    redis: aioredis.Redis,
    clock: ManualClock,
    tmp_path: Path,
    steps: Steps | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[FakeTelegram, App, TelegramChannel, str]]:
    """The fake Bot API and our web app with the Telegram channel, both on loopback. The engine
    runs ``steps`` (the real handlers by default)."""
    fake = FakeTelegram()
    async with run_server(fake.app()) as api_base:
        app = make_app(
            redis,
            clock,
            tmp_path,
            telegram_token=TOKEN,
            telegram_api_base=api_base,
            telegram_webhook_secret=WEBHOOK_SECRET,
            **settings,
        )
        # With Redis, as in production: long option lists are paged.
        channel = TelegramChannel.from_settings(app.settings, redis=redis)
        engine = Engine(app, steps or build_steps(), {"telegram": channel})
        async with run_server(build_web_app(app, engine, [channel])) as base:
            yield fake, app, channel, base


@asynccontextmanager
async def open_driver(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, **settings: Any
) -> AsyncIterator[TelegramDriver]:
    async with (
        open_channel(redis, clock, tmp_path, **settings) as (fake, _, channel, base),
        aiohttp.ClientSession() as http,
    ):
        yield TelegramDriver(fake, http, base, channel)
