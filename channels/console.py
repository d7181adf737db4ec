"""The console channel: the bot in a terminal, one line in, the bot's replies out.

Options are printed as ``N. Title``; typing the number (or the title) chooses. Images are written
to ``var/images/`` and their path printed. Used by ``antrean chat`` and by tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.messages import Choices, Image, Inbound, Outbound, Text
from channels.base import Channel


def render(message: Outbound) -> str:
    if isinstance(message, Text):
        return message.text
    if isinstance(message, Choices):
        lines = [message.text]
        for number, option in enumerate(message.options, 1):
            extra = f" ({option.description})" if option.description else ""
            lines.append(f"  {number}. {option.title}{extra}")
        return "\n".join(lines)
    return f"[{message.caption}]"


class ConsoleChannel(Channel):
    name = "console"

    def __init__(self, output: TextIO | None = None, image_dir: Path | None = None) -> None:
        self.output = output or sys.stdout
        self.image_dir = image_dir

    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        for message in messages:
            text = render(message)
            if isinstance(message, Image) and self.image_dir is not None:
                self.image_dir.mkdir(parents=True, exist_ok=True)
                path = self.image_dir / message.filename
                path.write_bytes(message.data)
                text = f"[{message.caption}: {path}]"
            self.output.write(text + "\n\n")
        self.output.flush()


class ConsoleSession:
    """Turns lines typed by one console user into :class:`Inbound` messages with unique ids."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        # Message ids must be unique across runs, or a restarted chat would be seen as redelivery.
        self._prefix = secrets.token_hex(4)
        self._count = 0

    def inbound(self, text: str) -> Inbound:
        self._count += 1
        return Inbound("console", self.user_id, f"{self._prefix}-{self._count}", text=text)


async def read_lines(stream: TextIO, prompt: str = "> ") -> str | None:
    """One line from ``stream`` without blocking the event loop; None at end of input.

    The read runs in a daemon thread rather than the loop's executor: a read still waiting for
    the keyboard must not hold up the exit on Ctrl-C or SIGTERM until Enter is pressed."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str | None] = loop.create_future()

    def deliver(result: str | None) -> None:
        if not line.done():
            line.set_result(result)

    def read() -> None:
        result: str | None = None  # end of input, or input that cannot be read any more
        try:
            if stream.isatty():
                result = input(prompt)
            elif text := stream.readline():
                result = text.rstrip("\n")
        except (EOFError, OSError, ValueError):  # ValueError: a closed stream, bad bytes
            pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, result)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await line
