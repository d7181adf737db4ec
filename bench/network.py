"""Loading a network of 150 office files, and what choosing an office costs with 1 and 150 offices.

Run on its own (``python -m bench.network``) until the office choice is part of the conversation
(issue #14); then ``make bench`` reports it with the shipped process. Figures: wall time to read
and validate the folder (target: start-up under 2 s), and microseconds per lookup (search by a
typed name, nearest to a shared location) for a network of 1 and of 150, which should not differ
by the number of offices.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bot.booking.network import Network, load_network
from tests.networks import write_offices

OFFICES = 150
RUNS = 5
LOOKUPS = 2000


def per_lookup_us(network: Network, rng: random.Random) -> tuple[float, float]:
    names = [f"kota {rng.randrange(OFFICES)}" for _ in range(LOOKUPS)]
    points = [(rng.uniform(-10, 5), rng.uniform(96, 140)) for _ in range(LOOKUPS)]
    started = time.perf_counter()
    for name in names:
        network.search(name)
    search = (time.perf_counter() - started) / LOOKUPS * 1e6
    started = time.perf_counter()
    for lat, lon in points:
        network.nearest(lat, lon)
    nearest = (time.perf_counter() - started) / LOOKUPS * 1e6
    return search, nearest


def main() -> None:
    rng = random.Random(14)
    with TemporaryDirectory() as one_dir, TemporaryDirectory() as many_dir:
        write_offices(Path(one_dir), 1, rng=rng)
        write_offices(Path(many_dir), OFFICES, rng=rng)
        loads = []
        for _ in range(RUNS):
            started = time.perf_counter()
            many = load_network(Path(many_dir))
            loads.append(time.perf_counter() - started)
        one = load_network(Path(one_dir))
    print(
        f"load {OFFICES} office files: median {statistics.median(loads):.3f} s, "
        f"max {max(loads):.3f} s ({RUNS} runs; target < 2 s)"
    )
    for label, network in (("1 office", one), (f"{OFFICES} offices", many)):
        search, nearest = per_lookup_us(network, rng)
        print(f"{label:>12}: search {search:.1f} us, nearest 3 {nearest:.1f} us per lookup")


if __name__ == "__main__":
    main()
