"""Reading a webhook's body: bounded in size and in time, quiet when the client goes away.

aiohttp reads a request body only as fast as the handler asks for it and has no deadline of its
own, so a client that sends a large body slowly would hold a connection, and what it sent so far,
for as long as it likes. Here the whole body must arrive within :data:`READ_TIMEOUT`; what is
larger than the channel's limit is refused as soon as that is known (from Content-Length, else
while reading), and the connection is closed rather than drained. A channel that can only
authenticate a body once it has all of it (WhatsApp's signature) also shares a
:class:`BodyBudget`: the bytes of bodies still arriving, unauthenticated, that one process holds
at once; past it a request is answered 503 (Meta delivers it again later).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)

# Telegram and Meta send a webhook body in one go, in milliseconds: a client still sending after
# this long is stalled or hostile.
READ_TIMEOUT = 10.0
CHUNK = 64 * 1024


class BodyBudget:
    """How many bytes of bodies still being received a process may hold at once."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a body budget must be a positive number of bytes")
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


async def refuse(request: web.Request, status: int, text: str) -> web.Response:
    """Answer ``status`` at once and close the connection, leaving the rest of the body unread
    (aiohttp would otherwise linger up to 10 s draining it)."""
    response = web.Response(status=status, text=text)
    response.force_close()
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        pass  # the client is gone already
    request.protocol.force_close()
    return response


async def read_body(
    request: web.Request,
    limit: int,
    *,
    within: float = READ_TIMEOUT,
    budget: BodyBudget | None = None,
) -> bytes | web.Response:
    """The request body, or the response to give instead: 413 when it is longer than ``limit``
    bytes, 408 when it takes longer than ``within`` seconds, 503 when the ``budget`` is spent. A
    client that disconnects mid-body gets a response nobody reads, and a debug line instead of
    an error with a traceback. The budget is given back when this returns."""
    if request.content_length is not None and request.content_length > limit:
        return await refuse(request, 413, "body too large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            while chunk := await request.content.read(CHUNK):
                if budget is not None and not budget.take(len(chunk)):
                    log.info("webhook bodies in flight over %d bytes: 503", budget.limit)
                    return await refuse(request, 503, "busy")
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return await refuse(request, 413, "body too large")
    except TimeoutError:
        log.info("webhook body not received within %ss from %s", within, request.remote)
        return await refuse(request, 408, "body not received in time")
    except ConnectionError:
        # aiohttp's "Connection lost" when the client goes away mid-body: nothing to answer.
        log.debug("client went away while sending a webhook body")
        return await refuse(request, 400, "connection lost")
    finally:
        if budget is not None:
            budget.give_back(sum(map(len, chunks)))
    return b"".join(chunks)
