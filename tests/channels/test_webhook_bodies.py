"""Webhook bodies from slow, stalled and vanishing clients, over real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from channels.telegram.webhook import SECRET_HEADER
from channels.webhook import BodyBudget
from channels.whatsapp.webhook import MAX_BODY_BYTES
from tests.channels.drivers.telegram import WEBHOOK_SECRET, TelegramDriver
from tests.channels.drivers.telegram import open_channel as open_telegram
from tests.channels.drivers.whatsapp import WhatsAppDriver, open_driver

READ_TIMEOUT = 0.5


@pytest.fixture
async def wa(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[WhatsAppDriver]:
    async with open_driver(redis, clock, tmp_path) as driver:
        driver.channel.read_timeout = READ_TIMEOUT
        yield driver


class SlowClient:
    """A raw HTTP/1.1 client that sends a POST's headers and only part of its body."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def start(self, path: str, length: int, sent: bytes, headers: str = "") -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{headers}\r\n"
        )
        self.writer.write(head.encode() + sent)
        await self.writer.drain()

    async def answer(self) -> tuple[int, bool]:
        """The response's status, and whether the server closed the connection after it."""
        assert self.reader is not None
        status_line = await self.reader.readline()
        rest = await self.reader.read()  # to EOF: the server must close
        return int(status_line.split()[1]), rest is not None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def test_stalled_uploads_are_cut_off_and_their_connections_closed(
    wa: WhatsAppDriver,
) -> None:
    base = str(wa.client.base_url)
    clients = [SlowClient(base) for _ in range(30)]
    started = time.monotonic()
    try:
        for client in clients:
            # Most of a large body, then nothing more: the finding's 30 stalled uploads.
            await client.start("/webhook/whatsapp", MAX_BODY_BYTES, b"[" * 200_000)
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.answer() for client in clients)), READ_TIMEOUT + 5
        )
    finally:
        for client in clients:
            client.close()
    assert answers == [(408, True)] * 30
    assert time.monotonic() - started < READ_TIMEOUT + 5
    # The server is still serving.
    assert "Selamat datang" in (await wa.type("halo")).all_text


async def test_unsigned_bytes_in_flight_are_bounded_per_process(wa: WhatsAppDriver) -> None:
    wa.channel.bodies = BodyBudget(500_000)
    stalled = [SlowClient(str(wa.client.base_url)) for _ in range(3)]
    try:
        for client in stalled[:2]:
            await client.start("/webhook/whatsapp", MAX_BODY_BYTES, b"[" * 200_000)
        # Let the server take in what was sent before the third one comes.
        for _ in range(100):
            if wa.channel.bodies.held >= 400_000:
                break
            await asyncio.sleep(0.01)
        assert wa.channel.bodies.held == 400_000
        await stalled[2].start("/webhook/whatsapp", MAX_BODY_BYTES, b"[" * 200_000)
        assert await asyncio.wait_for(stalled[2].answer(), READ_TIMEOUT) == (503, True)
        # Small, real bodies still fit beside the stalled ones.
        assert "Selamat datang" in (await wa.type("halo")).all_text
        answers = await asyncio.gather(*(c.answer() for c in stalled[:2]))
        assert answers == [(408, True)] * 2
    finally:
        for client in stalled:
            client.close()
    assert wa.channel.bodies.held == 0


async def test_a_body_announced_larger_than_the_limit_is_refused_unread(
    wa: WhatsAppDriver,
) -> None:
    client = SlowClient(str(wa.client.base_url))
    try:
        await client.start("/webhook/whatsapp", MAX_BODY_BYTES + 1, b"")
        assert await asyncio.wait_for(client.answer(), READ_TIMEOUT) == (413, True)
    finally:
        client.close()


async def test_a_client_gone_mid_body_is_not_an_error_in_the_log(
    wa: WhatsAppDriver, caplog: pytest.LogCaptureFixture
) -> None:
    clients = [SlowClient(str(wa.client.base_url)) for _ in range(5)]
    with caplog.at_level(logging.DEBUG):
        for client in clients:
            await client.start("/webhook/whatsapp", 100_000, b"{" * 10_000)
        await asyncio.sleep(0.1)
        for client in clients:
            client.close()
        # Long enough for the server to notice; shorter than the read deadline.
        await asyncio.sleep(READ_TIMEOUT / 2)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]
    assert "Selamat datang" in (await wa.type("halo")).all_text


async def test_a_stalled_telegram_update_is_cut_off(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with open_telegram(redis, clock, tmp_path) as (fake, _, channel, base):
        channel.read_timeout = READ_TIMEOUT
        client = SlowClient(base)
        try:
            await client.start(
                "/webhook/telegram",
                50_000,
                b'{"update_id": 1, ',
                headers=f"{SECRET_HEADER}: {WEBHOOK_SECRET}\r\n",
            )
            assert await asyncio.wait_for(client.answer(), READ_TIMEOUT + 5) == (408, True)
        finally:
            client.close()
        async with aiohttp.ClientSession() as http:
            seen = await TelegramDriver(fake, http, base).type("halo")
        assert "Selamat datang" in seen.all_text
