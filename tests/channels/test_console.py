"""The console as a person at the terminal sees it: words for typing, no markup, no log lines,
and nothing meant for someone else that a typed number could answer."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.compose import open_app
from bot.core.clock import ManualClock
from bot.core.engine import Engine
from bot.core.messages import Choices, Option, Text
from bot.infra.embedded import RedisServer
from bot.infra.settings import load_settings
from channels.console import ConsoleChannel, ConsoleSession
from handlers import build_steps
from tests.channels.drivers.console import open_driver
from tests.support import SECRET, make_app
from workers.runtime import Runtime


async def test_help_on_the_console_speaks_of_typing_not_buttons(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with open_driver(redis, clock, tmp_path) as console:
        await console.type("halo")
        [help_text, *_] = (await console.type("bantuan")).texts
        assert "tombol" not in help_text and "mengetik nomor" in help_text


async def test_bold_markup_shows_as_plain_words(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with open_driver(redis, clock, tmp_path) as console:
        welcome = (await console.type("halo")).texts[0]
        assert "Ketik menu kapan saja" in welcome and "*" not in welcome


async def test_a_broadcast_on_the_console_claims_then_prints() -> None:
    """The base channel's deliver_paced: no pacing; nothing printed when the claim is refused."""
    output = io.StringIO()
    console = ConsoleChannel(output=output)
    claims: list[bool] = []

    async def claim(answer: bool) -> bool:
        claims.append(answer)
        return answer

    refused = await console.deliver_paced("budi", "Siaran", locale="id", claim=lambda: claim(False))
    assert not refused
    assert output.getvalue() == ""
    assert await console.deliver_paced("budi", "Siaran", locale="id", claim=lambda: claim(True))
    assert "Siaran" in output.getvalue() and claims == [False, True]


async def test_messages_for_someone_else_are_labelled_and_cannot_be_answered_here(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    output = io.StringIO()
    console = ConsoleChannel(output=output, local_user="admin", other_label="untuk {identity}")
    engine = Engine(make_app(redis, clock, tmp_path), build_steps(), {"console": console})
    session = ConsoleSession("admin")
    await engine.handle(session.inbound("halo"))
    # A closure notice for another console user, sent from this process (as /close does).
    notice = Choices("Mohon maaf: kantor tutup.", (Option("rebook", "Pilih hari lain"),))
    before = len(output.getvalue())
    await console.send("budi", [notice, Text("Siaran b1 selesai")])
    shown = output.getvalue()[before:].strip().splitlines()
    assert shown == [
        "[untuk console:budi] Mohon maaf: kantor tutup.",
        "[untuk console:budi]   • Pilih hari lain",
        "",
        "[untuk console:budi] Siaran b1 selesai",
    ]
    # "1" still means the first option of this terminal's own menu.
    before = len(output.getvalue())
    await engine.handle(session.inbound("1"))
    assert "Pilih layanan" in output.getvalue()[before:]


async def test_antrean_chat_speaks_the_office_language_and_keeps_log_lines_out(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ANTREAN_REDIS_URL": redis_server.url,
        "ANTREAN_SECRET_KEY": SECRET,
        "ANTREAN_VAR_DIR": str(tmp_path),
        "ANTREAN_RATE_LIMIT_PER_MINUTE": "3",
        "ANTREAN_RATE_LIMIT_BURST": "2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "chat",
        "--as",
        "console:typist",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    typed = "".join(f"{n}\n" for n in ("menu", "1", "9", "9", "9", "9"))
    out, err = await asyncio.wait_for(process.communicate(typed.encode()), 60)
    assert process.returncode == 0, err.decode()
    printed = out.decode() + err.decode()
    assert "Ctrl-D untuk keluar" in printed and "to quit" not in printed
    assert "terlalu banyak pesan" in printed  # the limit was reached ...
    assert "rate limit" not in printed and " INFO " not in printed  # ... and not logged here
    assert "over the message rate limit" in (tmp_path / "antrean-chat.log").read_text()


def test_the_worker_labels_every_console_message_with_its_recipient(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` prints the worker's console messages (reminders, closure notices, tallies) in
    the chat's terminal: none of them is for the prompt there."""
    settings = load_settings(redis_url=redis_server.url, secret_key=SECRET, var_dir=tmp_path)
    runtime = Runtime(lambda: open_app(settings, "worker"))  # as `antrean worker` opens it
    try:
        console = runtime.run(runtime.channels())["console"]
        notice = Choices("Mohon maaf: kantor tutup.", (Option("rebook", "Pilih hari lain"),))
        runtime.run(console.send("me", [notice]))
    finally:
        runtime.close()
    assert capsys.readouterr().out.strip().splitlines() == [
        "[untuk console:me] Mohon maaf: kantor tutup.",
        "[untuk console:me]   • Pilih hari lain",
    ]


def test_a_typed_lat_lon_is_a_shared_location() -> None:
    from bot.core.messages import LOCATION, TEXT

    session = ConsoleSession("tester")
    shared = session.inbound(" -6.2088, 106.8456 ")
    assert shared.kind == LOCATION and shared.location == (-6.2088, 106.8456)
    # Whole numbers, off the globe, or anything else: typed text as ever.
    for text in ("1,2", "-95.0,10.5", "10.00-12.00", "Budi, Santoso"):
        message = session.inbound(text)
        assert message.kind == TEXT and message.text == text and message.location is None
