"""Run every benchmark, print the tables and write BENCHMARKS.md (about twelve minutes on 2
cores)."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import (
    broadcast,
    burst,
    counter,
    dialog,
    dialog_http,
    display,
    memory,
    network_burst,
    network_turns,
)
from bench.common import Result, Row, targets_table

T = TypeVar("T")


def dialog_targets(
    in_process: list[Result],
    over_http: list[Result],
    one_at_a_time: list[Result],
    memory_rows: list[memory.Memory],
) -> list[Row]:
    ours, peer = in_process
    http_ours, http_peer, *_ = over_http
    one_ours, one_peer, _ = one_at_a_time
    session = next(r.bytes_each for r in memory_rows if r.keys == "session + seen")
    over_http_ratio = http_ours.cpu_ms_per_turn / http_peer.cpu_ms_per_turn
    one_ratio = one_ours.cpu_ms_per_turn / one_peer.cpu_ms_per_turn
    in_process_ratio = ours.cpu_ms_per_turn / peer.cpu_ms_per_turn
    redis_ratio = http_ours.redis_cpu_ms_per_turn / http_peer.redis_cpu_ms_per_turn
    return [
        (
            "CPU per turn ≤ 0.5 x the peer's (over HTTP, 100 in flight)",
            f"{over_http_ratio:.2f} x",
            over_http_ratio <= 0.5,
        ),
        (
            "CPU per turn ≤ 0.5 x the peer's (over HTTP, 1 in flight)",
            f"{one_ratio:.2f} x",
            one_ratio <= 0.5,
        ),
        (
            "CPU per turn ≤ 0.5 x the peer's (in process)",
            f"{in_process_ratio:.2f} x",
            in_process_ratio <= 0.5,
        ),
        (
            "Redis round trips per turn ≤ 2 (over HTTP)",
            f"{http_ours.round_trips_per_turn:.2f}",
            http_ours.round_trips_per_turn <= 2,
        ),
        (
            "Redis server CPU per turn ≤ the peer's (over HTTP, 100 in flight)",
            f"{redis_ratio:.2f} x",
            redis_ratio <= 1,
        ),
        ("Redis bytes per idle session < 1 KiB", f"{session:,.0f}", session < 1024),
    ]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def run(
    title: str, measure: Callable[[], Coroutine[Any, Any, T]], report: Callable[[T], str]
) -> tuple[T, str]:
    """One benchmark: its results and its table, printed as soon as they are known."""
    print(f"\n{title} ...", flush=True)
    result = asyncio.run(measure())
    table = report(result)
    print(table, flush=True)
    return result, table


def main() -> None:
    started = time.monotonic()
    in_process, dialog_table = run(
        "dialog cost: 1,000 applicants x 8 turns, 100 at a time", dialog.compare, dialog.report
    )
    over_http, http_table = run(
        "dialog cost over HTTP: 1,000 applicants x 8 webhooks, 100 at a time",
        lambda: dialog_http.compare(floor=True),
        dialog_http.report,
    )
    floor_table = dialog_http.floor_report(over_http)
    print(floor_table, flush=True)
    _, http_10_table = run(
        "dialog cost over HTTP: 200 applicants x 8 webhooks, 10 at a time",
        lambda: dialog_http.compare(200, 10, 2),
        dialog_http.report,
    )
    one_at_a_time, http_1_table = run(
        "dialog cost over HTTP: 160 applicants x 8 webhooks, one at a time",
        lambda: dialog_http.compare(160, 1, 4),
        dialog_http.report,
    )
    bursts, burst_table = run(
        "quota-opening burst: 5,000 applicants, 500 seats, 1 then 4 processes",
        burst.compare,
        burst.report,
    )
    networks, network_burst_table = run(
        "network burst: 20 offices in two time zones, 5,000 applicants, a 3-master Redis Cluster",
        lambda: asyncio.wait_for(
            network_burst.compare(singles=bursts), network_burst.TOTAL_TIMEOUT_S
        ),
        network_burst.report,
    )
    network_turn_results, network_turns_table = run(
        "CPU per turn with 1, 2 and 150 offices over HTTP: 800 applicants each, 100 at a time",
        network_turns.compare,
        network_turns.report,
    )
    paced, broadcast_table = run(
        "broadcast pacing: 10,000 recipients at 30/s and 80/s", broadcast.compare, broadcast.report
    )
    counters, counter_table = run(
        "the counter page: 20 counters at once, 600 check-ins and calls",
        counter.bench,
        counter.report,
    )
    displays, display_table = run(
        "the waiting-room display: 50 displays and 20 counters, a day compressed",
        display.bench,
        display.report,
    )
    memory_rows, memory_table = run("memory", memory.measure, memory.report)
    rows = dialog_targets(in_process, over_http, one_at_a_time, memory_rows)
    rows += burst.targets(bursts)
    rows += network_burst.targets(networks)
    rows += network_turns.targets(network_turn_results)
    rows += [(t.name, t.measured, t.met) for t in paced.targets()]
    rows += counter.targets(counters)
    rows += display.targets(displays)
    targets = targets_table(rows)
    print("\n" + targets)
    minutes = (time.monotonic() - started) / 60
    text = f"""# Benchmarks

Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}, in
{minutes:.1f} minutes. The machine is shared and noisy: compare the ratios measured side by side
in one run, not the absolute figures across runs.

## Against the targets

{targets}

What the misses are made of is under [Where the time goes](#where-the-time-goes).

## Dialog cost (in process)

The same 8-turn booking conversation (start, book, service, day, window, NIK, name, confirm) for
1,000 applicants, 100 at a time, fed as Telegram updates parsed as each ships them (Antrean's small
model of the fields it reads, aiogram's full Update for the peer), with the
same office, seat book, validation and QR code; replies go to a sink. The peer is the
conversation written on aiogram 3's FSM with `RedisStorage` and `RedisEventIsolation`
(`bench/peers/aiogram_fsm.py`). Each system has its own Redis server; they are driven in
alternating rounds of 250 applicants (ABBA), so the machine's noise falls on both. CPU is this
process's CPU time while a system runs (Redis runs in its own process); round trips are counted
in the client (a pipeline is one); commands come from `INFO commandstats` and include the
commands run inside Lua scripts.

{dialog_table}

## Dialog cost over HTTP

The same conversation delivered as Telegram webhooks (`POST /webhook/telegram` with the secret
header) to each bot running in its own process (`bench/servers.py`), with its own fake Bot API and
Redis server, in alternating rounds. Both remove the tapped keyboard, send each prompt with its
buttons and the QR as a photo; the peer answers each tap with a call of its own, Antrean in the
webhook's reply (the Bot API makes the call). Antrean's process is built as `antrean run` builds
it (bot/cli.py's `build_app`, the web app frozen, the production Redis pool, settings' defaults:
the rate limit on, reminders on the office's due list in the same Redis). Each client waits for the
webhook's answer before its next message, as a person does. CPU and round trips are counted
inside the bot process after a warm-up of 80 turns; Redis CPU is the server's `INFO cpu` delta
(user + system) over the same rounds; the load generator and the fakes share the benchmark's
process and the machine's two cores. The third row is the peer with Antrean's work-around for
pydantic rebuilding aiogram's response models after each garbage collection
(`channels/telegram/session.py`), so the ratio can be read without that bug too.

100 applicants in flight (1,000 applicants, rounds of 250):

{http_table}

10 in flight (200 applicants, rounds of 100):

{http_10_table}

One at a time (160 applicants, rounds of 40), where batching cannot help:

{http_1_table}

## Quota-opening burst

{burst.__doc__.split(chr(10) + chr(10), 1)[1].strip() if burst.__doc__ else ""}

{burst_table}

## A network of offices: a simultaneous opening

{network_burst.__doc__.split(chr(10) + chr(10), 1)[1].strip() if network_burst.__doc__ else ""}

{network_burst_table}

## A network of offices: CPU per turn with 1 and 150 offices

{network_turns.__doc__.split(chr(10) + chr(10), 1)[1].strip() if network_turns.__doc__ else ""}

{network_turns_table}

## Broadcast pacing

{broadcast.__doc__.split(chr(10) + chr(10), 1)[1].strip() if broadcast.__doc__ else ""}

{broadcast_table}

## The day at the counter

{counter.__doc__.split(chr(10) + chr(10), 1)[1].strip() if counter.__doc__ else ""}

{counter_table}

## The waiting-room display

{display.__doc__.split(chr(10) + chr(10), 1)[1].strip() if display.__doc__ else ""}

{display_table}

## Memory

`MEMORY USAGE` after the dialog benchmark's conversations (everyone booked, at the menu). A
reminder waits as an entry of the office's due list (a sorted set) until the worker's clock tick
turns it into an RQ job ten minutes or less before it is due; a booking gets one per reminder
offset (two by default). An idle peer session costs nothing because the peer's
FSM clears its state at the end of a booking, but it also remembers nothing: no redelivery
de-duplication, no language.

{memory_table}

## Where the time goes

Profiles (py-spy, over HTTP) and what was done, before → after, on this machine. Figures
in this section come from profiling sessions and from timing one function in isolation,
not from this run; the tables above are this run's.

**The profile of what is left** (2026-12-01: py-spy `--gil` on the shipped process and on the
peer, each driven alone as in the HTTP benchmark, 200 applicants one at a time and 500 at 100
in flight; a sample goes to the innermost frame that names one of these parts, so the Redis
calls made by a step count as Redis; ms a turn = share of samples x the run's CPU a turn):

| bot process CPU, ms a turn | Antrean, c=1 | peer, c=1 | Antrean, c=100 | peer, c=100 |
| --- | ---: | ---: | ---: | ---: |
| Bot API calls: requests, JSON, answers | 0.86 | 2.26 | 0.55 | 2.18 |
| aiohttp server: the webhook's HTTP request | 0.49 | 0.87 | 0.18 | 0.25 |
| redis-py: commands, pool, replies | 0.40 | 1.15 | 0.45 | 1.06 |
| framework: engine and sessions / dispatcher and FSM | 0.41 | 0.48 | 0.40 | 0.55 |
| event loop, sockets, other | 0.31 | 0.66 | 0.13 | 0.23 |
| booking: seat book, availability, QR code | 0.17 | 0.21 | 0.17 | 0.10 |
| webhook: the update parsed and routed | 0.13 | 0.29 | 0.12 | 0.21 |
| conversation steps | 0.03 | 0.20 | 0.02 | 0.14 |
| **total** (ratio) | **2.79** (0.46 x) | **6.12** | **2.03** (0.43 x) | **4.72** |

From 100 in flight to one at a time Antrean's turn grows by 0.76 ms, and 0.65 of it is I/O
paths: the Bot API calls (+0.31), the webhook's own request (+0.31) and the event loop (+0.18),
each write now waking a sleeping process. Its own code (framework, booking, steps, parsing)
costs the same in both shapes, 0.7 ms, about a third of a turn; what is left is in aiohttp,
aiogram's client path and redis-py, paid per request and per round trip. One request fewer per
tap (below) is the remaining lever at one in flight. The ratio at one in flight varies between
runs more than at 100 (0.46-0.61 x in this session's runs, 0.50 in a side-by-side run of 80
applicants): the peer's cost moves with when its garbage collector runs.

**The Redis server's CPU: what it is made of, and its floor.** The target (the server's CPU a
turn no more than the peer's) is measured against a counterfactual in the same rounds as the
table of 100 in flight above: the same shipped process with the session's two scripts stripped
to a lease and the session's read and write (bench/floor.py, a fourth system in the rotation,
with its own Redis server; no user runs it), without the redelivery memory, the inbox, the rate
limit, the outbox check and the pacing counts:

{floor_table}

Stripped of every guarantee, the session costs the server about what the peer's storage and lock
cost it: 0.85-1.00 x in five side-by-side runs of 2026-12-01 before this one (this run's figure
above), while the shipped process stayed at 1.15-1.22 x. In those runs the guarantees cost the
server about 0.035 ms a turn (0.119 shipped against 0.084 at the floor, at most 0.015 below the
peer's). Each of them is work on the server that the peer does not do, and each is what the issue
forbids weakening: the redelivery memory is the exactly-once reply, the inbox the order of one
user's messages across processes, the rate limit the answer to a flooding script, the outbox
check the order of replies after an outage, the pacing counts the platforms' limits. Meeting the
target would take them at less than half of what they cost now, and by the costs below (about
10 us a script call, 1.3-1.5 us a command inside it) even the leanest layout that keeps them
does not get there: the platform's bucket alone is a call of its own (its own Cluster slot, 8-9
us a turn), and the redelivery check and record, the lease's inbox and the outbox's length, the rate
limit and the user's bucket are at least six more commands in begin and finish (about 9 us),
before any Lua. One at a time, where the peer's extra round trips each wake the server, its CPU
a turn is the peer's or less (the table above).

Where the server's time goes, by call (`python -m bench.slowlog`: `SLOWLOG` with every command
logged, 250 applicants at 100 in flight, each system alone, 2026-12-01; microseconds of the
server's time under load, the commands inside a script included in its call):

| call | Antrean: calls a turn | us a call | us a turn | floor: us a call | peer: us a turn |
| --- | ---: | ---: | ---: | ---: | ---: |
| begin (lease, redelivery memory, rate limit, inbox, outbox length) | 1 | 34 | 34 | 16 | |
| finish (session, lease, inbox, the user's pacing bucket) | 1 | 25 | 25 | 16 | |
| the platform's pacing bucket (in finish's pipeline) | 1 | 9 | 9 | | |
| confirm (seat, number, roster, reminders, NIK index) | 0.125 | 90 | 11 | 91 | 11 |
| hold | 0.125 | 40 | 5 | 44 | 6 |
| NIK claim | 0.125 | 12 | 1.5 | 12 | |
| the peer's availability script (Antrean: the process's snapshot) | | | | | 11 |
| the peer's lock release script | | | | | 8 |
| the peer's storage and lock: GET, SET, DEL | | | | | 7 |
| **in commands, a turn** | | | **86** | **51** | **43** |

A script call costs the server about 10 us before its first command (the floor's scripts have
three), and 1.3-1.5 us a command after; the peer's plain commands about 1-1.5 us each, but each
of its 6.38 round trips a turn costs the server a read, a write and an epoll wake outside any
command, about 10 us at 100 in flight (INFO cpu less the commands' time in that run: about 70 us
a turn for the peer, against Antrean's 2.38 round trips). `perf` on the server under Antrean's
load: the Lua VM about 22% of its CPU, the kernel's networking 23%, libc 15% (about 5% of it
printing and parsing floating-point numbers), jemalloc 9%.

Tried and not kept, side by side (each A/B moves by 5-10% between runs, more than any of these
could save by the table above, a few % each): the platform bucket's count coalesced to one call
per 50 ms per process (0.95-1.05 x), and dropped altogether (1.00-1.04 x); script arguments
written as integer text (a private server's begin and finish 12-18% cheaper, this benchmark
0.99-1.01 x); the rate limit's state kept in the redelivery memory's sorted set instead of a key
of its own (0.96 and 1.09 x). None of them, nor all of them together, would bring the shipped
row down to the peer's. The whole rate limit switched off is 10-12% of the server's CPU a
turn. The ratio also moves with the machine: two `make bench` runs of 2026-12-01 at 100 in
flight gave 0.90 and 1.24 x with Antrean's own figure unchanged (0.235 and 0.230 ms a turn, the
peer's 0.260 and 0.186): the peer's many round trips are what a busy machine makes dearer.

**Round trips, turn by turn** (the booking conversation of the benchmarks, counted in the client):

| turn | round trips | what |
| --- | ---: | --- |
| `/start` | 2 | begin, finish (with the turn's writes in its pipeline) |
| *Booking* | 2 | no read: the session's memo says the account has no booking yet |
| service | 2 | the day list from the process's availability snapshot |
| day | 2 | the window list from the snapshot |
| window | 3 | + the hold (the office's slot) |
| NIK | 2 | the NIK is checked when it is claimed, at confirmation |
| name | 2 | |
| confirm | 4 | + the NIK claim (the NIK's slot), + the confirmation (the office's slot) |
| **all 8** | **19** | **2.38 a turn** |

The issue's reads (the office's availability, the NIK registry, an applicant's bookings) are
gone from the turns. The three calls left are writes whose answer is the reply: held or full,
the NIK refused or claimed, the queue number. Each lives in another slot than the session's (the
office's, shared by all of its applicants; the NIK's, one booking per NIK across every office),
and a script touches one slot, so none can run inside begin or finish. Nor can they ride in the
save's pipeline as the pacing counts and the audit entry do: the reply waits for their answer,
and the save comes after the reply is out (a reply sent after its save can be lost to a crash;
one saved before it would put every reply through the outbox). Folding the NIK claim into the
confirmation would need the NIK's registry in the office's slot: possible for an office alone
(2.25 a turn), not for a network or several bots on one Redis, where one NIK holds one booking
everywhere. Keeping the session in the office's slot would put all of an office's applicants on
one Cluster node, and a network's applicant chooses the office during the conversation.

- **redis-py's and JSON's cost per command** (2026-12-01, after the profile above): the
  production client packs commands with hiredis's C packer (redis-py's asyncio connection packs
  in Python) and writes them without `asyncio.wait_for`, which on Python 3.11 starts a task per
  command (`bot/infra/redis.py`, `LeanCommands`); the session, the message in the lease, the
  announcements and the Bot API's bodies and answers go through orjson; the QR photo is sent as
  a form built from the channel's own call, without aiogram's `SendPhoto` model. Side by side on
  the shipped process, one at a time: 0.90-0.97 x the CPU a turn for the client, 0.90 x for
  orjson; the ratio to the peer one at a time moved from 0.54-0.62 to 0.46-0.53 x in runs on a
  quiet machine. The benchmarks now build the client `connect()` builds (before, without its
  `socket_timeout`, they did not pay `wait_for`'s task).
- **Outgoing Bot API calls are half of a turn's CPU on both sides**: aiogram builds a request
  model, serialises it, sends it with aiohttp and validates the answer into a `Message`. Antrean
  keeps aiogram's client but posts JSON instead of multipart form data (0.17 → 0.07 ms a call,
  `channels/telegram/session.py`), answers taps in the webhook's reply (one request fewer on 5 of
  8 turns), and keeps aiogram's response models built: pydantic caches them weakly, so after each
  garbage collection aiogram rebuilt them, ~5 ms each, 10% of the process (16% of the peer's).
  The calls of every turn (`sendMessage`, `editMessageReplyMarkup`) are written as the Bot API's
  JSON without aiogram's method and keyboard models (`JsonCall`: building and dumping them was
  about 5% of the process), and the QR photo goes as one buffered form (aiogram streamed the
  in-memory PNG as a chunked body: 18 socket writes a confirmation, strace). Together: 0.53 →
  0.45-0.48 x the peer's CPU at 100 in flight, in side-by-side runs made while building this.
- **Turn writes ride with the save**: the replies' count in the pacing buckets, a paged keyboard's
  options and the audit entry go in one pipeline with the session's finish script (over HTTP
  4.12 → 2.88 round trips a turn).
- **Reminders off the turn**: scheduling a booking's two reminders on RQ (`Job.fetch` twice and
  `enqueue_in` twice, blocking, in a thread) was 13-15% of the shipped process at 100 in flight.
  The seat scripts now put them on the office's due list and the worker's tick makes the RQ jobs
  (c=100: 0.55 → 0.50 x the peer's CPU in runs made while building this).
- **Reads the prompts do not make**: a per-process availability snapshot kept current by the seat
  scripts' announcements (pub/sub) serves the day and window lists, and a memo in the session says
  whether an applicant already has a booking; the NIK is checked when it is claimed, at
  confirmation (2.88 → 2.38 round trips a turn).
- **Holds found by id**: HOLD and CONFIRM scanned every live hold of the day to find the
  applicant's; an id index makes it a lookup (with 450 live holds a confirmation went from 250
  to 78 us of Redis CPU).
- **QR code**: segno's PNG writer built every pixel in Python, 3.0 → 0.6 ms a booking; then
  zlib level 9 → 6 (0.6 → 0.07 ms of compression, the file no larger) and a module a byte at 8
  pixels a module (both sides use `bot.booking.codes.qr_png`, so both gained). segno's own
  encoding, about 0.9 ms a booking in pure Python, is what is left of it.
- **Before these changes** (the previous BENCHMARKS.md, one system after the other): over HTTP
  3.68 vs 4.34 ms a turn (0.85 x) and 4.12 round trips; in process 1.37 vs 2.61 ms (0.52 x).
- **Near 0.5 x over HTTP** (the ratio moved between 0.41 and 0.61 over the runs made while
  building this, the most one at a time: the peer's cost varies with when the garbage collector
  runs): what is left is mostly the HTTP client and server paths and redis-py's per-command cost
  (pool, packing, parsing), which both pay per request and per round trip (the profile above).
  Python's garbage collector is about 8%
  of a turn; a serving process now freezes its start-up heap (`gc.freeze()`), which cuts that to
  3% and shortens the collector's pauses, though no change in CPU per turn was measurable here.
- **Round trips, what is left (2.38)**: the session costs two a turn (begin and finish scripts).
  Three calls in eight turns change data that lives in other Redis Cluster slots than the
  session, and the step needs their answer before it can reply: the hold (the seat is taken
  before the applicant is asked for their NIK), the NIK claim (the NIK registry is global, one
  booking per NIK in every office, so it cannot share the office's slot) and the confirmation
  (the office's slot). The claim must succeed before the seat is booked: issuing both at once
  would book and then cancel a seat, and skip its queue number, whenever a NIK turns out to be
  taken. Reaching 2.0 would need a session and its office's seats in one slot, which would put
  every applicant of an office on one shard.
- **One applicant at a time**: every turn then costs about a millisecond more on both sides (the
  bot process sleeps between turns while the load generator, the fakes and Redis take the two
  cores, so its caches are cold again at each turn: py-spy shows the same functions taking two to
  four times as long per turn as at 100 in flight). That penalty is about the same for both
  systems, so the ratio drifts from about 0.45 toward 0.6 x although Antrean's own work per
  turn is under half the peer's. Where it goes: at one in flight every socket write wakes a
  sleeping process (the fake Bot API, Redis, the load generator), and py-spy puts the growth
  from 100 in flight to 1 almost entirely in socket writes (aiohttp's request and response
  writes, `_SelectorSocketTransport.write`). The largest single piece is the call that removes
  the tapped keyboard (6 taps in 8 turns): with it switched off, in a side-by-side run of 120
  applicants one at a time, the ratio went 0.60 → 0.48 x. Antrean keeps it: a stale keyboard
  left in the chat invites taps on choices that are gone. Editing the tapped message into the
  next prompt would make it one call instead of two, a change of how the conversation looks on
  Telegram that is not taken here.
- **Redis CPU**: Antrean's two scripts a turn do more than the peer's plain commands: they keep a
  redelivery memory, the per-account rate limit, the user's lease and inbox, and read the outbox
  (begin: about 64 us, finish about 27 us on this machine), and the save counts the replies in
  two pacing buckets (the recipient's and the platform's) so that broadcasts leave room for
  conversations; the peer has none of these. A script call costs Redis 30-40 us here whatever it
  does (`INFO commandstats`), so the count of calls is what matters: the save's script now takes
  the recipient's bucket itself (same slot) and begin makes two calls fewer, 4.38 → 3.38 script
  calls a turn, which brought Redis CPU per turn from 1.17-1.19 x the peer's to 0.96 x at 100 in
  flight in side-by-side runs. Its 6.38 round trips cost Redis more in network handling, so
  the two end up close (see the tables).
- **Burst**: redis-py's default pool refused past 100 connections (thousands of 503s) and
  httpcore's pool scanned every connection on each WhatsApp request (half the process's CPU).
  With a waiting pool and httpx over aiohttp's pool (`httpx-aiohttp`), one process went from
  151 to 290-400 webhooks/s and its p99 from 6.6 s to 0.7-1.0 s (runs made while building
  this; the machine is shared). At 100 webhooks in flight a single process sits right at the
  1 s line: the p99 is the queue of the opening second, not the cost of a turn.
- **Throughput with processes**: with one bot process, the bot already keeps one of the two
  cores busy (its CPU seconds match the burst's seconds in the table above) and the load
  generator with both fakes, in one Python process, and Redis take the other. Four processes
  find little idle CPU, so the 4-vs-1 ratio stays near 1 here (0.99 to 1.34 over the runs made
  while building this). Nothing in the bots is shared but Redis: more cores than the load
  generator needs are what this target wants, and this machine does not have them.
"""
    Path("BENCHMARKS.md").write_text(text)
    print(f"\nwrote BENCHMARKS.md in {minutes:.1f} minutes")


if __name__ == "__main__":
    main()
