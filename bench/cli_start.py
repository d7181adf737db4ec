"""How long ``antrean --help`` and a subcommand's ``--help`` take, as a user waits for them.

Run on its own (``python -m bench.cli_start``); not part of ``make bench`` (a figure, no target
to hold: the test suite checks that ``--help`` imports none of the heavy libraries).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7
COMMANDS = (["--help"], ["run", "--help"], ["audit", "--help"])


def wall_seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    for argv in COMMANDS:
        times = sorted(wall_seconds(argv) for _ in range(RUNS))
        print(
            f"antrean {' '.join(argv):<14} median {statistics.median(times):.3f} s, "
            f"min {times[0]:.3f} s, max {times[-1]:.3f} s ({RUNS} runs)"
        )


if __name__ == "__main__":
    main()
