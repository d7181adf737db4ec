"""A conversation with one user typing lines (the console), until the input ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.engine import Engine
from bot.core.messages import Inbound


async def chat(
    engine: Engine,
    message: Callable[[str], Inbound],
    read: Callable[[], Awaitable[str | None]],
    first: str = "start",
) -> None:
    """Hand ``engine`` the user's ``first`` line, then each line ``read`` returns (as an
    :class:`Inbound` made by ``message``) until it returns None."""
    line: str | None = first
    while line is not None:
        await engine.handle(message(line))
        line = await read()
