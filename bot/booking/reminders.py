"""When a booking's reminders are due, and the office's list of reminders still to send.

A booking's reminders go on the office's due list (:attr:`OfficeKeys.reminders
<bot.infra.keys.OfficeKeys.reminders>`, a sorted set scored by the instant each is due) inside
the script that books or moves it (bot/booking/seats.py): no extra round trip, nothing to
schedule during the applicant's turn, and nothing lost if the process dies right after. A
worker's clock tick (workers/periodic.py) turns the entries due soon into RQ jobs.

Entries are never taken out when a booking is cancelled or moved: :data:`DUE` drops them when it
finds the booking no longer active at that day and window, and the send job checks again
(workers/reminders.py), so a stale entry costs a look-up, never a wrong message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.booking.office import Office
from bot.core.clock import ms

# The live entries due by a horizon, earliest first; dead entries are dropped on the way.
#   KEYS[1] the office's due list
#   ARGV[1] horizon (ms)  ARGV[2] now (ms)  ARGV[3] booking key template (id marker '\031id\031')
#   ARGV[4] most entries to return
# An entry is dead when its booking is gone, not active, or now at another day or window, or when
# its window has started (a reminder after the visit began helps nobody).
# Returns a flat list: member, due (ms), ...
DUE = """
local out = {}
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
  'LIMIT', 0, tonumber(ARGV[4]))
local now = tonumber(ARGV[2])
for i = 1, #entries, 2 do
  local member, due = entries[i], tonumber(entries[i + 1])
  local id, day, window, offset = string.match(member, '^([^|]+)|([^|]+)|([^|]+)|(%d+)$')
  local live = false
  if id and due + tonumber(offset) * 60000 > now then
    local s, e = string.find(ARGV[3], '\\031id\\031', 1, true)
    local key = string.sub(ARGV[3], 1, s - 1) .. id .. string.sub(ARGV[3], e + 1)
    local b = redis.call('HMGET', key, 'status', 'day', 'window')
    live = b[1] == 'active' and b[2] == day and b[3] == window
  end
  if live then
    out[#out + 1] = member
    out[#out + 1] = entries[i + 1]
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Due:
    """One reminder on the due list."""

    member: str
    booking_id: str
    day: str
    window: str
    offset: int
    due_ms: int

    @classmethod
    def parse(cls, member: str, due_ms: int) -> Due:
        booking_id, day, window, offset = member.split("|")
        return cls(member, booking_id, day, window, int(offset), due_ms)


def due_reminders(office: Office, day: date, window_id: str, now_ms: int) -> list[tuple[int, int]]:
    """``(offset minutes, due ms)`` of each reminder of a visit to ``window_id`` on ``day`` that
    is still ahead at ``now_ms`` (a booking made the evening before gets only the later one)."""
    start = office.window_start(day, window_id)
    offsets = office.booking.reminder_offsets_minutes
    due = ((offset, ms(start - timedelta(minutes=offset))) for offset in offsets)
    return [(offset, at) for offset, at in due if at > now_ms]


def member(booking_id: str, day: str, window: str, offset: int) -> str:
    return f"{booking_id}|{day}|{window}|{offset}"
