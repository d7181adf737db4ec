"""``antrean broadcast``: start a broadcast from the command line and watch it to the end."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from bot.booking.app import App
from bot.errors import StorageError
from bot.infra.embedded import release_shared_server
from bot.infra.redis import connect
from bot.infra.settings import Settings
from workers.broadcasts.plan import cancel_broadcast, create_broadcast
from workers.broadcasts.progress import Progress, progress
from workers.queues import default_queue, queue_connection


def run_broadcast_cli(
    settings: Settings,
    audience: str,
    text_id: str,
    text_en: str,
    *,
    starter: str = "cli",
    interval: float = 0.5,
    out: TextIO | None = None,
) -> int:
    """``antrean broadcast``: create and enqueue a broadcast, then draw its progress on stderr
    until the last batch ends (workers send it). Ctrl-C cancels what is not sent yet."""
    return asyncio.run(
        _cli(settings, audience, {"id": text_id, "en": text_en}, starter, interval, out)
    )


async def _cli(
    settings: Settings,
    audience: str,
    texts: dict[str, str],
    starter: str,
    interval: float,
    out: TextIO | None,
) -> int:
    stream = out or sys.stderr
    client, server = connect(settings)
    connection, queue_server = queue_connection(settings)
    app = App.build(settings, client)
    bid = ""
    try:
        bid = await create_broadcast(
            app, default_queue(connection), audience=audience, texts=texts, starter=starter
        )
        print(f"broadcast {bid}", file=stream)
        while True:
            p = await progress(app, bid)
            if p is None:
                print("\nthe broadcast is gone", file=stream)
                return 1
            stream.write("\r" + progress_bar(p))
            stream.flush()
            if p.finished:
                stream.write("\n")
                return 0 if p.status == "done" else 1
            await asyncio.sleep(interval)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels us; stop the workers from sending the rest.
        if bid:
            with contextlib.suppress(StorageError):
                await cancel_broadcast(app, bid)
            print(f"\nbroadcast {bid} cancelled", file=stream)
        raise
    finally:
        await client.aclose()
        connection.close()
        for embedded in (server, queue_server):
            if embedded is not None:
                release_shared_server(embedded)


def progress_bar(p: Progress, width: int = 30) -> str:
    share = p.handled / p.total if p.total else 1.0
    filled = round(width * share)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {p.handled}/{p.total}  "
        f"sent {p.sent}  failed {p.failed}  undeliverable {p.undeliverable}"
        + (f"  unconfirmed {p.unconfirmed}" if p.unconfirmed else "")
        + (f"  cancelled {p.cancelled}" if p.cancelled else "")
    )
