"""Run every benchmark, print the tables and write BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import dialog, dialog_http, memory


def targets_table(
    in_process: list[dialog.Result],
    over_http: list[dialog_http.HttpResult],
    memory_rows: list[memory.Memory],
) -> str:
    ours, peer = in_process
    http_ours, http_peer = over_http
    session = next(r.bytes_each for r in memory_rows if r.keys == "session + seen")
    rows = [
        (
            "CPU per turn / the peer's ≤ 0.5 (over HTTP)",
            http_ours.cpu_ms_per_turn / http_peer.cpu_ms_per_turn,
            0.5,
        ),
        (
            "CPU per turn / the peer's ≤ 0.5 (in process)",
            ours.cpu_ms_per_turn / peer.cpu_ms_per_turn,
            0.5,
        ),
        ("Redis round trips per turn ≤ 2 (over HTTP)", http_ours.round_trips_per_turn, 2.0),
        ("Redis bytes per idle session < 1024", session, 1024.0),
    ]
    lines = ["| target | measured | met |", "| --- | ---: | --- |"]
    for name, value, limit in rows:
        lines.append(f"| {name} | {value:,.2f} | {'yes' if value <= limit else '**no**'} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def main() -> None:
    print("dialog cost: 1,000 applicants x 8 turns, 100 at a time ...", flush=True)
    in_process = asyncio.run(dialog.compare())
    dialog_table = dialog.report(in_process)
    print(dialog_table, flush=True)
    print("\ndialog cost over HTTP: 1,000 applicants x 8 webhooks, 100 at a time ...", flush=True)
    over_http = asyncio.run(dialog_http.compare())
    http_table = dialog_http.report(over_http)
    print(http_table, flush=True)
    print("\nmemory ...", flush=True)
    memory_rows = asyncio.run(memory.measure())
    memory_table = memory.report(memory_rows)
    targets = targets_table(in_process, over_http, memory_rows)
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

## Against the targets

{targets}

Antrean's turns include work the peer does not do: the anti-scalper checks (the NIK registry
across offices, no-show strikes, the audit entry) add Redis calls on the NIK and confirmation
turns, and over HTTP each turn's replies are counted in the pacing buckets shared by all
processes (one pipeline a turn); the session machinery itself costs two round trips a turn.
"""
    Path("BENCHMARKS.md").write_text(text)
    print("\nwrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
