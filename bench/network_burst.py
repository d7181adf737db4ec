"""A simultaneous opening in a network (issue #14): 20 offices in two time zones on one bot, 250
applicants each on both platforms, on a real Redis Cluster of three masters.

Set-up (not timed). A Redis Cluster of three redis-server masters on loopback (tests/cluster.py),
the fakes and N bot processes of the quota-opening burst (bench/burst.py, whose machinery this
reuses), the processes loading a network: a folder of 20 office files (``--offices``, as
``ANTREAN_OFFICES``), each the burst office's with :data:`SEATS_EACH` seats on the day that opens,
ten in Asia/Makassar (WITA) and ten in Asia/Jakarta (WIB), each opening that day's quota at
07:00 on its own clock, so the WITA offices open an hour before the WIB ones. The 5,000
applicants of the single-office burst (the same channels, scalpers and persistent refreshers)
are shared out, 250 to an office; a scalper types the NIK of an applicant of any office, so the
NIK registry is tested across offices and Redis Cluster slots. Settings are the defaults (the
pre-queue opens 10 minutes before an office's opening).

The burst (timed), each office on its own clock, in two phases. Staged at 06:55 WITA (05:55 WIB):
every WITA applicant is walked in process through start -> book -> the office question (typing the
office's name) -> service -> "join the pre-queue"; every WIB applicant as far as the service
question (their office's pre-queue is an hour away). Phase 1: the bot processes' clock is set to
07:00:01 WITA (06:00:01 WIB) and runs, and all 5,000 applicants tap at once: the WITA ones
*Lanjut*, and go on as in the single-office burst (NIK, name, confirm; told full; refreshers come
back); each WIB one the service, and must be told that their office's next quota opens at 07:00
WIB, with no day to pick; no WIB office may hold or sell a seat (read from Redis after the
phase). Then, not timed, at 06:55 WIB the WIB applicants are walked into their offices'
pre-queues in process. Phase 2: the clock jumps to 07:00:01 WIB and runs, and the 2,500 WIB
applicants tap *Lanjut*, and go on as the WITA ones did. Each phase stops after
:data:`PHASE_TIMEOUT_S` seconds.

Measured: seats sold per office (each must be exactly its own), duplicate NIKs across the
network's bookings (and accounts), p50/p99 webhook latency, webhooks answered 2xx per second (the
two phases' deliveries over the sum of their durations, first tap to last answer), per phase and
for both, and the bot processes' CPU per webhook. Compared with the single-office burst
(bench/burst.py) with the same number of bot processes: the one measured in the same run on a
standalone Redis, and the same burst run again on this cluster just before the network's (the
ratio to that one is what the network itself costs).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import burst
from bench.burst import (
    APPLICANTS,
    IN_FLIGHT,
    OPENING_DAY,
    Applicant,
    BurstResult,
    Markers,
    Race,
    applicants,
    check,
    race_from,
    result_of,
    rig,
    stage,
    verify,
)
from bot.booking.app import LOCALE_DIR
from bot.booking.network import load_network, zone_label
from bot.core.i18n import Catalog
from bot.infra.keys import OfficeKeys
from bot.infra.redis import client_for
from tests.cluster import LocalCluster
from tests.networks import write_offices

OFFICES = 20
SEATS_EACH = 25  # 20 x 25 = the single-office burst's 500
ZONES = ("Asia/Makassar", "Asia/Jakarta")  # even offices WITA, odd WIB
PROCESS_COUNTS = (1,)
# The network's burst against the single office's on the same cluster: the same applicants and
# seats spread over 20 offices (and Redis Cluster slots) should cost no more. The two runs are made
# one after the other on a shared machine, not side by side: 0.8 leaves room for that noise.
THROUGHPUT_TARGET = 0.8
# How a WIB applicant asking at 06:00 WIB must be answered.
TOLD = "told it opens at 07:00 WIB"
# Hard limits (seconds): each phase, and the whole of python -m bench.network_burst (the
# single-office burst it compares with included).
PHASE_TIMEOUT_S = 100.0
TOTAL_TIMEOUT_S = 480.0


def network_office_template(seats: int = SEATS_EACH) -> str:
    """The burst office's file with ``seats`` seats on the day that opens (two windows)."""
    text = burst.BURST_OFFICE
    half = burst.SEATS // 2
    first, second = f"seats = {half} }}", f"seats = {burst.SEATS - half} }}"
    text = text.replace(first, f"seats = {seats // 2} }}", 1)
    return text.replace(second, f"seats = {seats - seats // 2} }}", 1)


def progress(started: float, what: str) -> None:
    """A line on stderr: how far a run has got, for whoever watches it."""
    print(f"  [{time.perf_counter() - started:5.1f} s] {what}", file=sys.stderr, flush=True)


def write_network(folder: Path, count: int = OFFICES, seats: int = SEATS_EACH) -> list[str]:
    return write_offices(
        folder, count, template=network_office_template(seats), zones=ZONES, prefix="net-"
    )


def share_out(people: list[Applicant], office_ids: Sequence[str]) -> None:
    """Consecutive blocks of applicants to each office (so that each has both channels, its
    share of scalpers and refreshers); each types its office's name at the office question."""
    each = -(-len(people) // len(office_ids))
    for person in people:
        index = person.n // each
        person.office = office_ids[index]
        person.office_text = f"Kota {index}"


@dataclass
class NetworkResult:
    processes: int
    # Both phases; per phase (WITA opening, WIB opening); the single-office burst compared.
    total: BurstResult
    phases: list[tuple[str, BurstResult]]
    single: BurstResult | None
    # The single-office burst again, on the same cluster as the network.
    single_cluster: BurstResult | None
    seats: dict[str, int]
    zones: dict[str, str]
    # At the WITA opening: the WIB applicants' answers, and seats held or sold at WIB offices.
    early_answers: dict[str, int] = field(default_factory=dict)
    early_wib_seats: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def offices_exact(self) -> int:
        return sum(1 for o, n in self.seats.items() if self.total.sold_by_office.get(o) == n)

    def ratio(self, single: BurstResult | None) -> float | None:
        """2xx webhooks/s of the network's burst over the single office's."""
        if single is None or not single.handled_per_s:
            return None
        return self.total.handled_per_s / single.handled_per_s


async def seats_taken(redis_url: str, offices: Sequence[str]) -> int:
    """Seats held or booked on the opening day at ``offices`` (their day counters)."""
    client = client_for(redis_url)
    try:
        taken = 0
        for office in offices:
            key = OfficeKeys(office).day(OPENING_DAY.isoformat(), burst.SERVICE)
            counters = await client.hgetall(key)
            taken += sum(int(v) for k, v in counters.items() if str(k).startswith("booked:"))
            taken += sum(int(v) for k, v in counters.items() if str(k).startswith("held:"))
        return taken
    finally:
        await client.aclose()


async def run(
    processes: int,
    cluster_url: str,
    folder: Path,
    var: Path,
    count: int = APPLICANTS,
    single: BurstResult | None = None,
    single_cluster: BurstResult | None = None,
) -> NetworkResult:
    started = time.perf_counter()
    network = load_network(folder)
    ids = sorted(o.id for o in network)
    zones = {o.id: o.timezone for o in network}
    people = applicants(count)
    share_out(people, ids)
    first_zone, second_zone = ZONES
    seats = {o: SEATS_EACH for o in ids}
    early = [p for p in people if zones[p.office] == first_zone]
    late = [p for p in people if zones[p.office] == second_zone]
    first_opening = min(network[o].release_at(OPENING_DAY) for o in ids if zones[o] == first_zone)
    second_opening = min(network[o].release_at(OPENING_DAY) for o in ids if zones[o] == second_zone)
    # Staged five minutes before the first opening: WITA applicants in their pre-queues, WIB
    # applicants asked which service (their office chosen).
    staging_s = await stage(
        cluster_url, early, var, network=network, at=first_opening - timedelta(minutes=5)
    )
    staging_s += await stage(
        cluster_url,
        late,
        var,
        network=network,
        at=first_opening - timedelta(minutes=5),
        flush=False,
        until="service",
    )
    progress(started, f"network: {len(people):,} applicants staged")
    markers = Markers()
    catalog = Catalog.load(LOCALE_DIR, default="id")
    next_opening = catalog.t("id", "book.no_days_next").split("{")[0]
    early_answers: Counter[str] = Counter()
    day = OPENING_DAY.isoformat()

    async def too_early(person: Applicant, race: Race) -> None:
        """A WIB applicant at 06:00 WIB, asked which service: taps it."""
        seen = await race.load.tap("early: service", person, burst.SERVICE, None)
        offered = day in seen.ids or f"pre:{day}" in seen.ids
        if offered:
            answer = "offered the day"
        elif seen.says(next_opening) and seen.says("07:00 WIB"):
            answer = TOLD
        else:
            answer = "other"
        early_answers[answer] += 1

    async def by_zone(person: Applicant, race: Race) -> None:
        if zones[person.office] == first_zone:
            await burst.applicant(person, race)
        else:
            await too_early(person, race)

    async with rig(processes, cluster_url, ["--offices", str(folder)], IN_FLIGHT) as the_rig:
        load_1 = the_rig.load()
        race_1 = Race(load_1, markers, {o: n for o, n in seats.items() if zones[o] == first_zone})
        phase_1 = await race_from(
            the_rig,
            race_1,
            people,
            first_opening + timedelta(seconds=1),
            by_zone,
            PHASE_TIMEOUT_S,
        )
        progress(started, f"network: phase 1 took {phase_1.burst_s:.1f} s")
        wib_ids = [o for o in ids if zones[o] == second_zone]
        early_wib_seats = await seats_taken(cluster_url, wib_ids)
        staging_s += await stage(
            cluster_url,
            late,
            var,
            network=network,
            at=second_opening - timedelta(minutes=5),
            flush=False,
        )
        progress(started, "network: WIB applicants staged")
        load_2 = the_rig.load()
        race_2 = Race(load_2, markers, {o: n for o, n in seats.items() if zones[o] == second_zone})
        phase_2 = await race_from(
            the_rig, race_2, late, second_opening + timedelta(seconds=1), limit_s=PHASE_TIMEOUT_S
        )
        progress(started, f"network: phase 2 took {phase_2.burst_s:.1f} s")
        both = the_rig.load()
        both.absorb(load_1)
        both.absorb(load_2)
    logs = the_rig.logs
    half = sum(seats.values()) // 2
    first = result_of(processes, early, load_1, race_1.confirmed_at, half, phase_1, 0.0, [])
    second = result_of(processes, late, load_2, race_2.confirmed_at, half, phase_2, 0.0, [])
    phases = burst.Phase(
        phase_1.burst_s + phase_2.burst_s,
        phase_1.cpu_s + phase_2.cpu_s,
        phase_1.errors + phase_2.errors,
    )
    confirmed = race_1.confirmed_at + race_2.confirmed_at
    total = result_of(
        processes, people, both, confirmed, sum(seats.values()), phases, staging_s, logs
    )
    total.sell_out_s = None  # two openings an hour apart: see each phase's
    await verify(cluster_url, total, ids)
    check(total, people)
    result = NetworkResult(
        processes,
        total,
        [
            (f"07:00 {zone_label(first_zone)} (+ {zone_label(second_zone)} asking early)", first),
            (f"07:00 {zone_label(second_zone)}", second),
        ],
        single,
        single_cluster,
        seats,
        zones,
        dict(early_answers),
        early_wib_seats,
    )
    if early_answers[TOLD] != len(late):
        result.errors.append(
            f"at the {zone_label(first_zone)} opening, {len(late)} {zone_label(second_zone)} "
            f"applicants tapped: answers {dict(early_answers)}"
        )
    if early_wib_seats:
        result.errors.append(
            f"{early_wib_seats} seats held or sold at {zone_label(second_zone)} offices before "
            "they opened"
        )
    for office, n in seats.items():
        sold = total.sold_by_office.get(office, 0)
        if sold != n:
            result.errors.append(f"{office} ({zones[office]}) sold {sold} of its {n} seats")
    return result


async def compare(
    process_counts: Sequence[int] = PROCESS_COUNTS,
    count: int = APPLICANTS,
    singles: Sequence[BurstResult] = (),
    on_cluster: bool = True,
) -> list[NetworkResult]:
    """The network burst with each process count, against the single-office burst on the same
    cluster (measured here) and on a standalone Redis (``singles``: already measured; those
    missing are measured here first)."""
    by_processes = {r.processes: r for r in singles}
    missing = [n for n in process_counts if n not in by_processes]
    if missing:
        for r in await burst.compare(missing, count=count):
            by_processes[r.processes] = r
    results = []
    with TemporaryDirectory() as tmp:
        folder = Path(tmp) / "offices"
        folder.mkdir()
        write_network(folder)
        office_file = Path(tmp) / "burst-office.toml"
        office_file.write_text(burst.BURST_OFFICE)
        cluster = LocalCluster(Path(tmp) / "cluster")
        await asyncio.to_thread(cluster.start)
        try:
            for processes in process_counts:
                single_cluster = None
                if on_cluster:
                    started = time.perf_counter()
                    single_cluster = await burst.run(
                        processes, cluster.url, office_file, Path(tmp), count=count
                    )
                    progress(started, f"single office on the cluster, {processes} proc.")
                results.append(
                    await run(
                        processes,
                        cluster.url,
                        folder,
                        Path(tmp),
                        count,
                        by_processes.get(processes),
                        single_cluster,
                    )
                )
        finally:
            await asyncio.to_thread(cluster.stop)
    return results


# -- report -------------------------------------------------------------------------------------


def targets(results: list[NetworkResult]) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    for r in results:
        p = f"{r.processes} proc."
        offices = len(r.seats)
        rows.append(
            (
                f"network: each of {offices} offices sells exactly its seats ({p})",
                f"{r.offices_exact} of {offices}",
                r.offices_exact == offices,
            )
        )
        rows.append(
            (
                f"network: 0 duplicate NIKs across the offices ({p})",
                str(r.total.duplicate_niks),
                r.total.duplicate_niks == 0 and r.total.sold > 0,
            )
        )
        late = sum(r.early_answers.values())
        rows.append(
            (
                f"network: WIB offices closed at 07:00 WITA, every WIB applicant told so ({p})",
                f"{r.early_answers.get(TOLD, 0):,} of {late:,} told, {r.early_wib_seats} seats",
                r.early_answers.get(TOLD, 0) == late and r.early_wib_seats == 0,
            )
        )
        rows.append(
            (
                f"network: p99 webhook latency < 1 s ({p})",
                f"{r.total.p99_ms:,.0f} ms",
                r.total.p99_ms < 1000,
            )
        )
        ratio = r.ratio(r.single_cluster)
        if ratio is not None:
            rows.append(
                (
                    f"network: 2xx webhooks/s ≥ {THROUGHPUT_TARGET} x the single office's on the "
                    f"same cluster ({p})",
                    f"{ratio:.2f} x",
                    ratio >= THROUGHPUT_TARGET,
                )
            )
    return rows


def report(results: list[NetworkResult]) -> str:
    lines = [
        "| run | processes | applicants | seats | seats sold | duplicate NIKs | webhooks "
        "| 2xx webhooks/s | p50 ms | p99 ms | non-2xx | burst s | time to sell out (s) "
        "| bot CPU ms/webhook |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]

    def row(name: str, r: BurstResult, sold: str, duplicates: str) -> str:
        sell_out = f"{r.sell_out_s:.2f}" if r.sell_out_s is not None else "-"
        return (
            f"| {name} | {r.processes} | {r.applicants:,} | {r.seats} | {sold} | {duplicates} "
            f"| {r.webhooks:,} | {r.handled_per_s:,.0f} | {r.p50_ms:,.0f} | {r.p99_ms:,.0f} "
            f"| {r.non_2xx:,} | {r.burst_s:.1f} | {sell_out} "
            f"| {r.bot_cpu_s * 1000 / r.webhooks if r.webhooks else 0:.2f} |"
        )

    for r in results:
        for name, s in (("standalone Redis", r.single), ("cluster", r.single_cluster)):
            if s is not None:
                lines.append(row(f"single office ({name})", s, str(s.sold), str(s.duplicate_niks)))
        for name, phase in r.phases:
            lines.append(row(f"network, {name}", phase, "", ""))
        t = r.total
        lines.append(row("**network, both openings**", t, str(t.sold), str(t.duplicate_niks)))
        for name, s in (("standalone Redis", r.single), ("cluster", r.single_cluster)):
            ratio = r.ratio(s)
            if ratio is not None:
                lines.append(
                    f"| **network / single office ({name})** | {r.processes} | | | | | "
                    f"| x{ratio:.2f} | | | | | | |"
                )
    for r in results:
        by_zone: dict[str, list[str]] = {}
        for office in sorted(r.seats):
            sold = r.total.sold_by_office.get(office, 0)
            by_zone.setdefault(zone_label(r.zones[office]), []).append(
                f"{office} {sold}/{r.seats[office]}"
            )
        sold_line = "; ".join(f"{zone}: {', '.join(v)}" for zone, v in by_zone.items())
        answers = ", ".join(f"{k} {n:,}" for k, n in r.early_answers.items())
        t = r.total
        lines += [
            "",
            f"{r.processes} proc.: seats sold per office (sold/seats): {sold_line}.",
            f"At 07:00:01 WITA the WIB applicants asking for a seat were: {answers}; seats held or "
            f"sold at WIB offices before 07:00 WIB: {r.early_wib_seats}. Admitted from the "
            f"pre-queues {t.admitted:,}, told full {t.told_full:,}, scalpers refused at confirm "
            f"{t.nik_refused}, seats sold again {t.resold}, bookings seen by applicants "
            f"{t.confirmed_seen}, seat counters {t.counter_booked}, duplicate accounts "
            f"{t.duplicate_accounts}; bot CPU {t.bot_cpu_s:.1f} s, staging {t.staging_s:.1f} s. "
            "Bot log: " + ("; ".join(f"`{line}`" for line in t.bot_log) or "nothing") + ".",
        ]
    lines += ["", "| target | measured | met |", "| --- | ---: | --- |"]
    for name, measured, met in targets(results):
        lines.append(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
    problems = [f"{r.processes} proc.: {e}" for r in results for e in r.errors + r.total.errors]
    for r in results:
        for name, s in (("standalone Redis", r.single), ("cluster", r.single_cluster)):
            problems += [f"single office, {name}: {e}" for e in (s.errors if s else [])]
    if problems:
        lines += ["", "Problems:", *(f"- {p}" for p in problems)]
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> None:
    """``python -m bench.network_burst [APPLICANTS [PROCESSES ...]]``"""
    count = int(argv[0]) if argv else APPLICANTS
    processes = tuple(int(a) for a in argv[1:]) or PROCESS_COUNTS
    wall = time.perf_counter()
    results = asyncio.run(asyncio.wait_for(compare(processes, count), TOTAL_TIMEOUT_S))
    print(report(results))
    print(f"\nwall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
