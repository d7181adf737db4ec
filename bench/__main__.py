"""Run every benchmark, print the tables and write BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import dialog, dialog_http, memory

TARGETS = """Targets (issue #7): CPU per turn at most half the aiogram peer's; at most 2 Redis round
trips per turn; under 1 KiB of Redis per idle session."""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def main() -> None:
    print("dialog cost: 1,000 applicants x 8 turns, 100 at a time ...", flush=True)
    dialog_table = dialog.report(asyncio.run(dialog.compare()))
    print(dialog_table, flush=True)
    print("\ndialog cost over HTTP: 1,000 applicants x 8 webhooks, 100 at a time ...", flush=True)
    http_table = dialog_http.report(asyncio.run(dialog_http.compare()))
    print(http_table, flush=True)
    print("\nmemory ...", flush=True)
    memory_table = memory.report(asyncio.run(memory.measure()))
    print(memory_table)
    text = f"""# Benchmarks

Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}.
The machine is shared and noisy: compare the ratios measured side by side in one run, not the
absolute figures across runs.

## Dialog cost (in process)

The same 8-turn booking conversation (start, book, service, day, window, NIK, name, confirm) for
1,000 applicants, 100 at a time, fed as Telegram updates parsed by aiogram on both sides, against
the same Redis server, office, seat book and validation; replies go to a sink. The peer is the
conversation written on aiogram 3's FSM with `RedisStorage` and `RedisEventIsolation`
(`bench/peers/aiogram_fsm.py`). CPU is this process's CPU time (Redis runs in its own process);
round trips are counted in the client; commands come from `INFO commandstats` and include the
commands run inside Lua scripts.

{dialog_table}

## Dialog cost over HTTP

The same conversation delivered as Telegram webhooks (`POST /webhook/telegram` with the secret
header) to each bot running in its own process (`bench/servers.py`), both replying through the
same fake Bot API (inline keyboards, callbacks answered, old keyboards removed, the QR as a
photo). CPU and Redis round trips are counted inside the bot process; the load generator and the
fake Bot API share the benchmark's process and the machine's second core, so turns/s and latency
are bounded by them as much as by the bots.

{http_table}

## Memory

{memory_table}

{TARGETS}
"""
    Path("BENCHMARKS.md").write_text(text)
    print("\nwrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
