"""The WhatsApp channel's driver: signed webhook posts in, what the fake Graph API got out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot.core.channel import Notice
from bot.core.clock import ManualClock
from bot.core.dialog import Steps
from bot.core.engine import Engine
from bot.web import build_web_app
from channels.whatsapp import WhatsAppChannel
from channels.whatsapp.channel import Sleep
from handlers import build_steps
from tests.channels.drivers import Seen
from tests.fake_graph import (
    APP_SECRET,
    VERIFY_TOKEN,
    FakeGraph,
    envelope,
    reply_message,
    run_fake_graph,
    signed,
    text_message,
    wamid,
)
from tests.support import make_app
from tests.web_support import run_server

WA_ID = "6281234567890"


async def no_sleep(_: float) -> None:
    """Backoff without waiting: tests never sleep for real."""


def seen_of(messages: list[dict[str, Any]]) -> Seen:
    seen = Seen()
    for message in messages:
        kind = message.get("type")
        if kind == "text":
            seen.texts.append(message["text"]["body"])
        elif kind == "image":
            seen.images += 1
            seen.texts.append(message["image"].get("caption", ""))
        elif kind == "interactive":
            interactive = message["interactive"]
            seen.texts.append(interactive["body"]["text"])
            if interactive["type"] == "button":
                seen.options = [b["reply"]["title"] for b in interactive["action"]["buttons"]]
            elif interactive["type"] == "location_request_message":
                seen.location_asked = True
            else:
                rows = interactive["action"]["sections"][0]["rows"]
                seen.options = [row["title"] for row in rows]
    return seen


def location_message(wa_id: str, lat: float, lon: float) -> dict[str, Any]:
    """A shared location, as the ``messages`` webhook carries it (name and address are there
    only when the user picked a named place)."""
    return {
        "from": wa_id,
        "id": wamid(),
        "timestamp": "1700000000",
        "type": "location",
        "location": {"latitude": lat, "longitude": lon},
    }


class WhatsAppDriver:
    def __init__(
        self,
        fake: FakeGraph,
        client: httpx.AsyncClient,
        channel: WhatsAppChannel,
        wa_id: str = WA_ID,
    ) -> None:
        self.fake = fake
        self.client = client
        self.channel = channel
        self.wa_id = wa_id

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        return await self.client.post("/webhook/whatsapp", content=body, headers=signed(body))

    async def deliver_statuses(self) -> httpx.Response:
        """Post the statuses Meta has for us (one webhook request), as Meta would."""
        statuses, self.fake.statuses = self.fake.statuses, []
        return await self.post(envelope(statuses=statuses))

    async def _deliver(self, message: dict[str, Any]) -> Seen:
        before = len(self.fake.to(self.wa_id))
        response = await self.post(envelope([message]))
        assert response.status_code == 200, response.text
        return seen_of(self.fake.to(self.wa_id)[before:])

    async def type(self, text: str) -> Seen:
        return await self._deliver(text_message(self.wa_id, text))

    async def share(self, lat: float, lon: float) -> Seen:
        return await self._deliver(location_message(self.wa_id, lat, lon))

    async def notify(self, notice: Notice) -> Seen:
        before = len(self.fake.to(self.wa_id))
        await self.channel.notify(self.wa_id, notice)
        return seen_of(self.fake.to(self.wa_id)[before:])

    async def choose(self, number: int) -> Seen:
        """Tap the ``number``-th button or list row of the last options the user was sent."""
        for message in reversed(self.fake.to(self.wa_id)):
            if message.get("type") != "interactive":
                continue
            interactive = message["interactive"]
            if interactive["type"] == "location_request_message":
                continue
            if interactive["type"] == "button":
                reply = interactive["action"]["buttons"][number - 1]["reply"]
                tap = reply_message(self.wa_id, "button_reply", reply["id"], reply["title"])
            else:
                row = interactive["action"]["sections"][0]["rows"][number - 1]
                tap = reply_message(self.wa_id, "list_reply", row["id"], row["title"])
            return await self._deliver(tap)
        raise AssertionError("no options were sent to tap")


@asynccontextmanager
async def open_driver(
    redis: aioredis.Redis,
    clock: ManualClock,
    tmp_path: Path,
    *,
    sleep: Sleep = no_sleep,
    steps: Steps | None = None,
    **settings: Any,
) -> AsyncIterator[WhatsAppDriver]:
    """The channel, the engine (with ``steps``, else the real dialog) and the web app on loopback,
    talking to a fake Graph API. The web app starts the channel, which checks the token."""
    async with run_fake_graph() as fake, graph_client(fake) as graph:
        channel = WhatsAppChannel(
            graph,
            phone_number_id=fake.phone_number_id,
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            redis=redis,
            clock=clock,
            sleep=sleep,
        )
        app = make_app(redis, clock, tmp_path, **settings)
        engine = Engine(app, steps or build_steps(), {"whatsapp": channel})
        async with (
            run_server(build_web_app(app, engine, [channel])) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            yield WhatsAppDriver(fake, client, channel)


def graph_client(fake: FakeGraph) -> httpx.AsyncClient:
    """A client like the one ``WhatsAppChannel.from_settings`` builds, aimed at the fake."""
    return httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {fake.token}"}, timeout=10
    )
