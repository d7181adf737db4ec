"""The console channel: the bot in a terminal, one line in, the bot's replies out.

Options are printed as ``N. Title``; typing the number (or the title) chooses. Images are written
to ``var/images/`` and their path printed. Used by ``antrean chat`` and by tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.core.channel import Channel
from bot.core.messages import (
    LOCATION,
    AskLocation,
    Choices,
    Image,
    Inbound,
    Location,
    Outbound,
    Text,
    valid_location,
)

# *bold*, as the platforms mark it up: a terminal shows the words, not the asterisks.
_BOLD = re.compile(r"\*([^*\n]+)\*")
_TYPED_LOCATION = re.compile(r"(-?[0-9]{1,3}\.[0-9]+)\s*,\s*(-?[0-9]{1,3}\.[0-9]+)")
_ANSI_BOLD, _ANSI_DIM, _ANSI_RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def render(message: Outbound, *, ansi: bool = False, numbered: bool = True) -> str:
    """A message as the terminal shows it: options numbered for typing (or bulleted when they
    are not for this terminal's user), *bold* as bold on a terminal and plain elsewhere."""
    if isinstance(message, Text):
        text = message.text
    elif isinstance(message, Choices):
        lines = [message.text]
        for number, option in enumerate(message.options, 1):
            extra = f" ({option.description})" if option.description else ""
            lines.append(
                f"  {number if numbered else '•'}{'.' if numbered else ''} {option.title}{extra}"
            )
        text = "\n".join(lines)
    elif isinstance(message, Location):
        text = message.as_text()
    elif isinstance(message, AskLocation):
        # No location picker in a terminal: how to type one (ConsoleSession reads it).
        text = f"{message.text}\n  ({message.typed})" if message.typed else message.text
    else:
        text = f"[{message.caption}]"
    return _BOLD.sub(rf"{_ANSI_BOLD}\1{_ANSI_RESET}" if ansi else r"\1", text)


class ConsoleChannel(Channel):
    name = "console"
    # Nothing redelivers a line typed in the terminal.
    redelivers_for = timedelta(minutes=10)
    buttons = False
    # The ``local_user`` of a process nobody types to (the worker): every message is labelled.
    NOBODY = ""

    def __init__(
        self,
        output: TextIO | None = None,
        image_dir: Path | None = None,
        *,
        local_user: str | None = None,
        other_label: str = "for {identity}",
    ) -> None:
        """``local_user``: the user at this terminal. Messages for anyone else (a closure notice
        or a broadcast sent from here) are labelled with ``other_label`` and their options not
        numbered, so that typing a number never answers them. None: no labels (tests)."""
        self.output = output or sys.stdout
        self.image_dir = image_dir
        self.local_user = local_user
        self.other_label = other_label

    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        ansi = self.output.isatty()
        other = self.local_user is not None and user_id != self.local_user
        for message in messages:
            text = render(message, ansi=ansi and not other, numbered=not other)
            if isinstance(message, Image) and self.image_dir is not None:
                self.image_dir.mkdir(parents=True, exist_ok=True)
                path = self.image_dir / message.filename
                path.write_bytes(message.data)
                text = f"[{message.caption}: {path}]"
            if other:
                label = "[" + self.other_label.format(identity=f"{self.name}:{user_id}") + "] "
                text = "\n".join(label + line for line in text.splitlines())
                if ansi:
                    text = _ANSI_DIM + text + _ANSI_RESET
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
        message_id = f"{self._prefix}-{self._count}"
        place = typed_location(text)
        if place is not None:
            return Inbound("console", self.user_id, message_id, kind=LOCATION, location=place)
        return Inbound("console", self.user_id, message_id, text=text)


def typed_location(text: str) -> tuple[float, float] | None:
    """A location typed as ``lat,lon`` in decimal degrees (``-6.2088,106.8456``), the console's
    stand-in for the platforms' location sharing; None for anything else. Both numbers need a
    decimal point, so that no answer typed at another step ("1,2") is taken for a place."""
    found = _TYPED_LOCATION.fullmatch(text.strip())
    if found is None:
        return None
    return valid_location(float(found[1]), float(found[2]))


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
