"""``antrean broadcast``: start a broadcast from the command line and watch it to the end."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.booking.app import App
from bot.errors import ConfigError, StorageError
from workers.broadcasts.plan import cancel_broadcast
from workers.broadcasts.progress import Progress, progress


async def run_broadcast_cli(
    app: App,
    audience: str,
    texts: Mapping[str, str],
    *,
    starter: str = "cli",
    interval: float = 0.5,
    out: TextIO | None = None,
) -> int:
    """``antrean broadcast``: create and enqueue a broadcast, then draw its progress on stderr
    until the last batch ends (workers send it). Ctrl-C cancels what is not sent yet. ``app``:
    as the composition root opens it for a tool, with its jobs."""
    if app.jobs is None:
        raise ConfigError("a broadcast needs a job queue (workers send it)")
    stream = out or sys.stderr
    bid = ""
    try:
        bid = await app.jobs.broadcast(app, audience=audience, texts=texts, starter=starter)
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


def progress_bar(p: Progress, width: int = 30) -> str:
    share = p.handled / p.total if p.total else 1.0
    filled = round(width * share)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {p.handled}/{p.total}  "
        f"sent {p.sent}  failed {p.failed}  undeliverable {p.undeliverable}"
        + (f"  unconfirmed {p.unconfirmed}" if p.unconfirmed else "")
        + (f"  cancelled {p.cancelled}" if p.cancelled else "")
    )
