"""CPU per turn with 1 office and with a network of 150 (issue #14): the booking conversation over
HTTP, as bench/dialog_http.py drives it, against bots loaded with 1, 2 and 150 office files.

Each bot is its own process as ``antrean run`` builds it (``bench.servers antrean --shipped
--offices FOLDER``: bot/cli.py's build_app path, the production Redis pool, settings' defaults),
with its own fake Bot API and Redis server. The office files are the benchmark office's
(bench/common.py), written by tests/networks.py's ``write_offices`` (also the tests' 150-office
start-up test), in three time zones. With one office there is no office question: 8 turns (start,
book, service, day, window, NIK, name, confirm). In a network the applicant types the office's
name after *book* ("Kota 17": a search of the network's index), 9 turns, and the applicants are
spread over every office. Each client waits for the answer to its webhook before the next, 100
applicants in flight; the bots are driven in alternating rounds (ABC CBA ...), so what the shared
machine does meanwhile falls on all alike. CPU and Redis round trips are counted inside each bot
process, after a warm-up of 10 conversations, or one at each office if there are more: a
process's first prompts at an office read that office's seat availability from Redis, which its
snapshot then keeps current (bot/booking/snapshot.py), once per office and process (measured
with a 10-conversation warm-up and 200 applicants over the 150 offices: 2.57 round trips a turn
instead of 2.33).

The 2-office bot separates what a network costs whatever its size (the office question, the
per-account claim across offices at confirmation) from what the number of offices costs: the
150/2 ratio is the one that should not move with the count.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import BENCH_OFFICE, Result, dialog_report, redis_server
from bench.dialog_http import System
from tests.networks import write_offices

SIZES = (1, 2, 150)
# The target: CPU per turn with 150 offices at most this many times that with 1 ("the same
# within noise"). Side by side in alternating rounds on this shared 2-core machine, the 150/1
# ratio moved between 0.84 and 0.89 over the runs made while building this (the 2/1 one between
# 0.88 and 1.05), so 15% above 1 is beyond that noise; and the network's conversation does a
# little more than a single office's whatever its size (it carries the chosen office, a
# confirmation claims the account across offices), which the 150/2 row leaves out.
RATIO_TARGET = 1.15


def typed_office(size: int) -> Callable[[int], str] | None:
    """What applicant ``n`` types at the office question of a network of ``size`` (none for
    one office): consecutive applicants at consecutive offices (warm-up 9000 + k at office k, as
    9000 is a multiple of 150 and of 2)."""
    if size == 1:
        return None
    return lambda n: f"Kota {n % size}"


async def compare(applicants: int = 800, concurrency: int = 100, rounds: int = 8) -> list[Result]:
    """The results with 150, 1 and 2 offices, in that order (the report's ratios are to the
    first)."""
    systems: dict[int, System] = {}
    with TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            for size in SIZES:
                folder = Path(tmp) / f"offices-{size}"
                folder.mkdir()
                write_offices(folder, size, template=BENCH_OFFICE)
                server = stack.enter_context(redis_server())
                name = f"{size} office{'s' if size > 1 else ''}"
                system = System(
                    name,
                    "antrean",
                    server.url,
                    concurrency,
                    ["--offices", str(folder)],
                    typed_office(size),
                    warm_up=max(10, size),
                )
                systems[size] = await stack.enter_async_context(system.running())
            order = [systems[size] for size in SIZES]
            per_round = applicants // rounds
            for n in range(rounds):
                for system in order if n % 2 == 0 else order[::-1]:
                    await system.measure(n * per_round, per_round)
    many, one, two = (systems[size].result() for size in (150, 1, 2))
    return [many, one, two]


def ratio(results: list[Result]) -> float:
    many, one, _ = results
    return many.cpu_ms_per_turn / one.cpu_ms_per_turn


def targets(results: list[Result]) -> list[tuple[str, str, bool]]:
    measured = ratio(results)
    return [
        (
            f"CPU per turn with 150 offices ≤ {RATIO_TARGET} x with 1 (over HTTP, 100 in flight)",
            f"{measured:.2f} x",
            measured <= RATIO_TARGET,
        )
    ]


def report(results: list[Result]) -> str:
    table = dialog_report(results, "CPU ms/turn (bot process)", "non-200")
    many, one, two = results
    per_booking = ", ".join(
        f"{r.name} {r.cpu_ms_per_turn * turns:.1f} ms"
        for r, turns in ((one, 8), (two, 9), (many, 9))
    )
    return (
        f"{table}\n\nCPU per booking (the whole conversation: 8 turns with 1 office, 9 in a "
        f"network): {per_booking}."
    )


if __name__ == "__main__":
    print(report(asyncio.run(compare(*(int(a) for a in sys.argv[1:4])))))
