"""The Redis server's time by call, for "Where the time goes" in BENCHMARKS.md.

    python -m bench.slowlog [APPLICANTS] [IN_FLIGHT]

Each system of the HTTP benchmark (bench/dialog_http.py) alone: Antrean as shipped, Antrean at
the floor (bench/floor.py) and the aiogram peer, each behind its webhook with its own Redis
server, drives APPLICANTS (250) booking conversations, IN_FLIGHT (100) at a time, with
``SLOWLOG`` logging every command. Printed per system: the server's CPU a turn (``INFO cpu``), the
time a turn spent in commands (what ``SLOWLOG`` measures: a script's call includes the commands it
runs), and each call's count and time, scripts named by their module constant. Logging every
command costs the server time of its own, outside the commands: compare the commands' times, not
the CPU, with `make bench`'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import defaultdict
from importlib import import_module

from redis.lock import Lock

from bench.common import redis_cpu, redis_server
from bench.dialog_http import FLOOR, System

# Where Lua scripts are module constants (a script is named by its constant).
SCRIPT_MODULES = (
    "bot.core.sessions",
    "bot.core.pacing",
    "bot.booking.seats",
    "bot.booking.counter",
    "bench.floor",
)


def script_names() -> dict[str, str]:
    """SHA1 of each script -> ``module.CONSTANT``; redis-py's lock scripts (the peer's event
    isolation) as ``Lock.<what>``."""
    names: dict[str, str] = {}
    for module_name in SCRIPT_MODULES:
        for name, value in vars(import_module(module_name)).items():
            if name.isupper() and isinstance(value, str) and "redis.call" in value:
                names.setdefault(hashlib.sha1(value.encode()).hexdigest(), f"{module_name}.{name}")
    for name in ("LUA_RELEASE_SCRIPT", "LUA_EXTEND_SCRIPT", "LUA_REACQUIRE_SCRIPT"):
        script = getattr(Lock, name, None)
        if isinstance(script, str):
            names[hashlib.sha1(script.encode()).hexdigest()] = f"Lock.{name}"
    return names


async def profile(name: str, system: str, args: list[str], applicants: int, in_flight: int) -> str:
    names = script_names()
    with redis_server() as redis:
        async with System(name, system, redis.url, in_flight, args).running() as bot:
            admin = bot.admin
            await admin.config_set("slowlog-log-slower-than", 0)
            await admin.config_set("slowlog-max-len", 1_000_000)
            await admin.slowlog_reset()
            before = await redis_cpu(admin)
            await bot.measure(0, applicants)
            cpu = await redis_cpu(admin) - before
            log = await admin.slowlog_get(1_000_000)
    turns = applicants * bot.turns
    calls: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for entry in log:
        if entry.get("client_address", b"").startswith(b"?"):
            continue  # a command run by a script ("?:0"): in its script's time
        words = entry["command"].decode(errors="replace").split(maxsplit=2)
        call = words[0].upper()
        if call == "EVALSHA" and len(words) > 1:
            call = names.get(words[1], f"EVALSHA {words[1][:8]}")
        calls[call][0] += 1
        calls[call][1] += entry["duration"]
    in_commands = sum(us for _, us in calls.values())
    lines = [
        f"{name}: INFO cpu {cpu / turns * 1e6:.1f} us a turn, in commands "
        f"{in_commands / turns:.1f} us a turn",
        "| call | calls a turn | us a call | us a turn |",
        "| --- | ---: | ---: | ---: |",
    ]
    for call, (count, us) in sorted(calls.items(), key=lambda item: -item[1][1]):
        if us / turns >= 0.1:  # not the benchmark's own INFO and CONFIG calls
            lines.append(f"| {call} | {count / turns:.3f} | {us / count:.1f} | {us / turns:.1f} |")
    return "\n".join(lines)


async def main(applicants: int = 250, in_flight: int = 100) -> None:
    for name, system, args in (
        ("Antrean", "antrean", []),
        (FLOOR, "antrean", ["--floor"]),
        ("aiogram FSM", "peer", []),
    ):
        print(await profile(name, system, args, applicants, in_flight), end="\n\n", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*(int(a) for a in sys.argv[1:3])))
