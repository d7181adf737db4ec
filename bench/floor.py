"""The session's Redis work at its floor: a counterfactual for BENCHMARKS.md, never shipped.

Antrean's two session scripts (bot/core/sessions.py) carry the reliability the fault suite checks:
the redelivery memory (a message answered once), the inbox (a user's messages in arrival order,
across processes), the rate limit (hostile input), the outbox check (replies in order after a
platform outage) and the pacing counts (the platforms' limits). The aiogram peer has none of
them. :func:`strip_to_floor` replaces both scripts, on one bot process of the benchmark, by what
is left without any of it: a lease (as the peer's event isolation lock), the session read and
written, and no pacing counts. Whatever this floor costs the Redis server, every guarantee can
only add to it; the benchmark measures it side by side with the shipped process and the peer
(bench/dialog_http.py), so that the Redis server's CPU target can be read against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.pacing import TAKE
from bot.core.sessions import SessionStore
from bot.core.writes import Arg, Write

# Take the lease, or answer "busy" while anyone holds it; read the session.
#   KEYS as BEGIN's (only KEYS[1] session and KEYS[2] lease are used)
#   ARGV as BEGIN's: [2] our lease token  [3] the message's entry  [4] now (ms)
#   [5] lease length (ms)  [6] TTL of the lease key (ms)
# Returns {"busy"} | {"run", session or false, entry, 1, 0, 0}, as BEGIN does.
FLOOR_BEGIN = """
if redis.call('GET', KEYS[2]) then return {'busy'} end
redis.call('SET', KEYS[2], ARGV[2] .. '|' .. (tonumber(ARGV[4]) + tonumber(ARGV[5])) .. '|1|'
           .. ARGV[3], 'PX', ARGV[6])
return {'run', redis.call('GET', KEYS[1]), ARGV[3], 1, 0, 0}
"""

# Save the session and release the lease, if it is still ours.
#   KEYS[1] session  KEYS[2] lease (the rest of FINISH's keys, the user's pacing bucket, ignored)
#   ARGV[1] our lease token  ARGV[2] session JSON  ARGV[6] session TTL (s)
# Returns {"lost"} | {"done"}, as FINISH does.
FLOOR_FINISH = """
local lease = redis.call('GET', KEYS[2])
if not lease or string.sub(lease, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then
  return {'lost'}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[6])
redis.call('DEL', KEYS[2])
return {'done'}
"""


def strip_to_floor(store: SessionStore) -> None:
    """Make ``store`` run the floor's scripts instead of the shipped ones (this process only).
    The user's pacing count, which the shipped save takes in its own script, is ignored by the
    floor's; the platform's, which rides in the save's pipeline, is dropped."""
    store._begin = store.redis.register_script(FLOOR_BEGIN)
    store._finish = store.redis.register_script(FLOOR_FINISH)
    shipped = store._finish_with

    async def finish_with(keys: list[str], args: list[Arg], writes: Sequence[Write]) -> Any:
        return await shipped(keys, args, [write for write in writes if write.script != TAKE])

    store._finish_with = finish_with  # type: ignore[method-assign]
