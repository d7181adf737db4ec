"""The seat book of one office: holds, bookings and queue numbers, kept atomic by Lua scripts.

Seats are counted per office-day-service-window in one hash per day-service (``cap:<window>``,
``booked:<window>``, ``held:<window>`` and ``seq``, the last queue number issued). Every operation
that changes state is one script call, i.e. one round trip, so two applicants racing for the last
seat can never both get it and queue numbers never repeat or skip.

Why holds are a sorted set scored by expiry instead of keys with a TTL: an expired hold must give
its seat back, and Redis would drop an expiring key without telling the counter. Every script that
touches the counts of a day-service first purges the holds whose expiry lies before ``now`` and
returns their seats, so no background job is needed. ``now`` always comes from the injected clock
(never Redis ``TIME``), which keeps scripts deterministic and lets tests move time by hand.

Queue numbers are issued per window in ranges, so that number order is time order for each
service's prefix. The first number of a day-service fixes its plan in the day hash: the day's
windows in time order, each a block (``base:<window>``, ``block:<window>``) sized from its
capacity then (:func:`block_size`: the capacity plus a margin, rounded up to a multiple of 10, at
least 10), and ``plan_end``, the last number of the last block. Window k's numbers are
``base + 1 .. base + block``, counted by ``n:<window>``. A window whose block is used up (staff
raised its quota past the block after the plan was fixed, or many cancelled seats were booked
again) or that the plan lacks gets its next numbers from one overflow range past the last block
(``plan_end + 1, ...``, counted by ``overflow``): numbers never collide, and calling still
follows time order because the day's roster is ordered by window start first, then number
(bot/booking/calls.py). A day hash that already has the older single counter ``seq`` keeps
numbering with it.

Every booking of a day is in the office-day's roster (:meth:`OfficeKeys.roster`), scored by its
call order: CONFIRM adds it, RESCHEDULE moves it, a cancellation leaves it there marked by the
booking's status.

Keys a script derives from a booking (its day-service, its account) are not known before the
script reads the booking, so the script builds them from templates made by :class:`OfficeKeys`
with marker placeholders. They carry the office's hash tag like every other key of the office, so
they live in the same Redis Cluster slot as the keys passed in ``KEYS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from bot.booking.errors import SEAT_ERRORS, SeatError
from bot.booking.office import Window
from bot.booking.replies import pairs as _pairs
from bot.booking.replies import text as _text
from bot.core.clock import Clock, ms
from bot.errors import StorageError
from bot.infra.keys import SEATS_CHANNEL, OfficeKeys

# Bookings, day counters and holds vanish this long after their day (at 00:00 UTC).
RETENTION = timedelta(days=60)

# Placeholders in key templates, replaced inside the scripts (Lua '\031' is this same 0x1F byte).
# A control character cannot occur in an office, service, day, account or booking id we accept.
DAY_MARK = "\x1fday\x1f"
SERVICE_MARK = "\x1fservice\x1f"
ACCOUNT_MARK = "\x1faccount\x1f"
ID_MARK = "\x1fid\x1f"

# Functions shared by the scripts below (they are prepended to each script's body).
#   purge(day, holds, now): drop holds whose expiry <= now and give their seats back.
#   counts(day, window, default_cap): capacity (staff override or default), booked, held.
#   find_hold(holds, hold_id): member and window of the live hold of that id, or nil (a lookup in
#     the holds' id index, <holds>:ids; add_hold and drop_hold keep both in step).
#   fill(template, mark, value): a key template with its marker replaced (plain text, no patterns).
#   active_count(account, booking_template): the account's active bookings; ids whose booking
#     vanished (expired) or is no longer active are dropped so they stop counting against the cap.
#   live_nik(niks, nik_hash, booking_template): the id of the NIK's active booking, or nil (a stale
#     entry is dropped for the same reason).
#   remind(due, id, day, window, first): the booking's reminders onto the due list, from ARGV.
#   touch(day, holds): note that the counts of a day-service changed; a script made by
#     :func:`seat_script` then announces it once at its end (see ANNOUNCE below). purge touches
#     what it changed itself.
# Hold members are "<window>|<hold id>|<account>"; Python refuses ids containing "|".
#
# Announcements (PUBLISH on SEATS_CHANNEL, read by bot/booking/snapshot.py), JSON arrays:
#   ['d', day hash key, earliest live hold expiry (ms) or '', the day hash's fields (flat)]
#     after a script changed the counts of a day-service (the whole hash: the reader patches its
#     copy in place, whatever it missed before of that day-service);
#   ['c', closed-days key, day (ISO)] after a day was closed or opened again.
LUA_HELPERS = (
    """
local SEATS_CHANNEL = '"""
    + SEATS_CHANNEL
    + """'
local DAY_MARK = '\\031day\\031'
local SERVICE_MARK = '\\031service\\031'
local ACCOUNT_MARK = '\\031account\\031'
local ID_MARK = '\\031id\\031'

local touched, touched_order = {}, {}
local function touch(day_key, holds_key)
  if touched[day_key] then return end
  touched[day_key] = holds_key
  touched_order[#touched_order + 1] = day_key
end

local function announce()
  for _, day_key in ipairs(touched_order) do
    local first = redis.call('ZRANGE', touched[day_key], 0, 0, 'WITHSCORES')
    redis.call('PUBLISH', SEATS_CHANNEL,
      cjson.encode({'d', day_key, first[2] or '', redis.call('HGETALL', day_key)}))
  end
end

-- Holds are also indexed by id (a hash beside the sorted set: hold id -> member), so finding
-- one costs a lookup, not a scan of every hold of the day (hundreds at a quota's opening).
local function hold_index(holds_key)
  return holds_key .. ':ids'
end

local function purge(day_key, holds_key, now)
  local expired = redis.call('ZRANGEBYSCORE', holds_key, '-inf', now)
  if #expired == 0 then return end
  touch(day_key, holds_key)
  for _, member in ipairs(expired) do
    local window, id = string.match(member, '^([^|]*)|(.*)|[^|]*$')
    if window then
      redis.call('HINCRBY', day_key, 'held:' .. window, -1)
      if redis.call('HGET', hold_index(holds_key), id) == member then
        redis.call('HDEL', hold_index(holds_key), id)
      end
    end
  end
  redis.call('ZREMRANGEBYSCORE', holds_key, '-inf', now)
end

local function counts(day_key, window, default_cap)
  local v = redis.call('HMGET', day_key, 'cap:' .. window, 'booked:' .. window, 'held:' .. window)
  local cap = tonumber(v[1]) or tonumber(default_cap)
  return cap, tonumber(v[2]) or 0, math.max(0, tonumber(v[3]) or 0)
end

local function add_hold(holds_key, expiry, window, hold_id, account)
  local member = window .. '|' .. hold_id .. '|' .. account
  redis.call('ZADD', holds_key, expiry, member)
  redis.call('HSET', hold_index(holds_key), hold_id, member)
end

local function drop_hold(holds_key, member, hold_id)
  redis.call('ZREM', holds_key, member)
  redis.call('HDEL', hold_index(holds_key), hold_id)
end

local function find_hold(holds_key, hold_id)
  local member = redis.call('HGET', hold_index(holds_key), hold_id)
  if member and redis.call('ZSCORE', holds_key, member) then
    return member, string.match(member, '^([^|]*)|')
  end
  -- Holds taken before the index existed (an upgrade within a hold's lifetime) are scanned for
  -- while the sorted set has members the index lacks.
  if redis.call('ZCARD', holds_key) > redis.call('HLEN', hold_index(holds_key)) then
    for _, m in ipairs(redis.call('ZRANGE', holds_key, 0, -1)) do
      local window, id = string.match(m, '^([^|]*)|(.*)|[^|]*$')
      if id == hold_id then return m, window end
    end
  end
  return nil, nil
end

local function fill(template, mark, value)
  local i, j = string.find(template, mark, 1, true)
  return string.sub(template, 1, i - 1) .. value .. string.sub(template, j + 1)
end

local function is_active(booking_key)
  return redis.call('HGET', booking_key, 'status') == 'active'
end

local function active_count(account_key, booking_template)
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', account_key)) do
    if is_active(fill(booking_template, ID_MARK, id)) then
      n = n + 1
    else
      redis.call('SREM', account_key, id)
    end
  end
  return n
end

local function live_nik(niks_key, nik_hash, booking_template)
  local id = redis.call('HGET', niks_key, nik_hash)
  if not id then return nil end
  if is_active(fill(booking_template, ID_MARK, id)) then return id end
  redis.call('HDEL', niks_key, nik_hash)
  return nil
end

-- Put a booking's reminders on the office's due list: `count` pairs (offset, due ms) in ARGV
-- from index `first`.
local function remind(due_key, id, day, window, first)
  local count = tonumber(ARGV[first]) or 0
  for i = 0, count - 1 do
    local offset, due = ARGV[first + 1 + 2 * i], ARGV[first + 2 + 2 * i]
    redis.call('ZADD', due_key, due, id .. '|' .. day .. '|' .. window .. '|' .. offset)
  end
end

-- Queue numbers (see the module's docstring). A window's block: its capacity plus a fifth (at
-- least 2) for seats cancelled and booked again, rounded up to a multiple of 10, at least 10.
local function block_size(cap)
  local want = cap + math.max(2, math.floor(cap / 5))
  return math.max(10, 10 * math.ceil(want / 10))
end

-- The next queue number of `window` of a day-service; ARGV from index `first`: the day's window
-- count m, then m x (window, default capacity), in time order (used once, to fix the plan).
local function next_number(day_key, window, first)
  if redis.call('HEXISTS', day_key, 'seq') == 1 then
    return redis.call('HINCRBY', day_key, 'seq', 1)
  end
  if redis.call('HEXISTS', day_key, 'plan_end') == 0 then
    local base = 0
    for i = 0, (tonumber(ARGV[first]) or 0) - 1 do
      local w = ARGV[first + 1 + 2 * i]
      local cap = counts(day_key, w, ARGV[first + 2 + 2 * i])
      local block = block_size(cap)
      redis.call('HSET', day_key, 'base:' .. w, base, 'block:' .. w, block)
      base = base + block
    end
    redis.call('HSET', day_key, 'plan_end', base)
  end
  local v = redis.call('HMGET', day_key, 'base:' .. window, 'block:' .. window)
  if v[1] then
    local n = redis.call('HINCRBY', day_key, 'n:' .. window, 1)
    if n <= tonumber(v[2]) then return tonumber(v[1]) + n end
  end
  local past = tonumber(redis.call('HGET', day_key, 'plan_end'))
  return past + redis.call('HINCRBY', day_key, 'overflow', 1)
end

-- Where a booking stands in its day's call order: its window's start (HHMM), then its number.
local function call_order(window, number)
  return (tonumber(string.match(window, '^%d+')) or 0) * 1000000 + tonumber(number)
end

-- Note that booking `id` of the day of `roster_key` changed (added, moved, a new status): the
-- roster's version goes up and the change log scores the id with it (OfficeKeys.roster_version,
-- roster_changes), so that the counter page reads only what changed since it last looked. Both
-- expire with the booking.
local function mark(roster_key, id, booking_key)
  local version = redis.call('INCR', roster_key .. ':version')
  redis.call('ZADD', roster_key .. ':changes', version, id)
  local expiry = redis.call('PEXPIRETIME', booking_key)
  if expiry > 0 then
    redis.call('PEXPIREAT', roster_key .. ':version', expiry)
    redis.call('PEXPIREAT', roster_key .. ':changes', expiry)
  end
end

local function booking_map(booking_key)
  local flat = redis.call('HGETALL', booking_key)
  local b = {}
  for i = 1, #flat, 2 do b[flat[i]] = flat[i + 1] end
  return b
end
"""
)


def seat_script(body: str) -> str:
    """A script over seat counts: the helpers, then ``body`` run as a function (its ``return``
    is the script's answer), then one announcement per day-service it touched (also after a
    refusal: a purge may have changed counts)."""
    return (
        LUA_HELPERS
        + "local function main()\n"
        + body
        + "\nend\nlocal reply = main()\nannounce()\nreturn reply\n"
    )


# Capacity, booked and held seats of many day-services in one call (purging expired holds first).
#   KEYS[1] closed days  KEYS[2k] day hash of request k  KEYS[2k+1] holds of request k
#   ARGV[1] now (ms), then per request: day (ISO), window count n, n x (window, default capacity)
# Returns a flat list: per request 1 if its day is closed else 0, the earliest expiry (ms) of a live
# hold of its day-service or '' if none, then cap, booked, held for each of its windows, in order.
# A closed day reports capacity 0. Expired holds it purged are announced.
AVAILABILITY = seat_script(
    """
local now = ARGV[1]
local out = {}
local a = 2
for k = 2, #KEYS, 2 do
  local day_key, holds_key = KEYS[k], KEYS[k + 1]
  local closed = redis.call('SISMEMBER', KEYS[1], ARGV[a]) == 1
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  purge(day_key, holds_key, now)
  out[#out + 1] = closed and 1 or 0
  out[#out + 1] = redis.call('ZRANGE', holds_key, 0, 0, 'WITHSCORES')[2] or ''
  for _ = 1, n do
    local cap, booked, held = counts(day_key, ARGV[a], ARGV[a + 1])
    if closed then cap = 0 end
    out[#out + 1] = cap
    out[#out + 1] = booked
    out[#out + 1] = held
    a = a + 2
  end
end
return out
"""
)

# Take (or move) the hold of one hold id onto a window.
#   KEYS[1] day hash  KEYS[2] holds  KEYS[3] closed days  KEYS[4] account's active bookings
#   ARGV[1] now (ms)  ARGV[2] day (ISO)  ARGV[3] window  ARGV[4] default capacity  ARGV[5] hold id
#   ARGV[6] account  ARGV[7] max active bookings  ARGV[8] hold expiry (ms)
#   ARGV[9] key expiry (ms, PEXPIREAT)  ARGV[10] booking key template (id marker)
# Returns {'OK'} | {'ERR', reason}. A refusal leaves the previous hold of the id in place.
HOLD = seat_script(
    """
local window, hold_id = ARGV[3], ARGV[5]
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return {'ERR', 'day_closed'} end
if active_count(KEYS[4], ARGV[10]) >= tonumber(ARGV[7]) then return {'ERR', 'account_limit'} end
purge(KEYS[1], KEYS[2], ARGV[1])
local old, old_window = find_hold(KEYS[2], hold_id)
local cap, booked, held = counts(KEYS[1], window, ARGV[4])
-- Re-holding the same window: our own seat is among the held ones.
if old_window == window then held = held - 1 end
if booked + held >= cap then return {'ERR', 'sold_out'} end
if old then
  drop_hold(KEYS[2], old, hold_id)
  redis.call('HINCRBY', KEYS[1], 'held:' .. old_window, -1)
end
add_hold(KEYS[2], ARGV[8], window, hold_id, ARGV[6])
redis.call('HINCRBY', KEYS[1], 'held:' .. window, 1)
touch(KEYS[1], KEYS[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('PEXPIREAT', KEYS[2], ARGV[9])
redis.call('PEXPIREAT', hold_index(KEYS[2]), ARGV[9])
return {'OK'}
"""
)

# Drop the hold of one hold id, if it is still live.
#   KEYS[1] day hash  KEYS[2] holds
#   ARGV[1] now (ms)  ARGV[2] hold id
# Returns 1 if a live hold was dropped, else 0.
RELEASE = seat_script(
    """
purge(KEYS[1], KEYS[2], ARGV[1])
local old, old_window = find_hold(KEYS[2], ARGV[2])
if not old then return 0 end
drop_hold(KEYS[2], old, ARGV[2])
redis.call('HINCRBY', KEYS[1], 'held:' .. old_window, -1)
touch(KEYS[1], KEYS[2])
return 1
"""
)

# Turn a hold into a booking whose id is the hold id; books a free seat even if the hold expired.
#   KEYS[1] day hash  KEYS[2] holds  KEYS[3] closed days  KEYS[4] account's active bookings
#   KEYS[5] niks (NIK hash -> active booking id)  KEYS[6] booking
#   ARGV[1] now (ms)  ARGV[2] day (ISO)  ARGV[3] window  ARGV[4] default capacity
#   ARGV[5] hold id = booking id  ARGV[6] account  ARGV[7] max active bookings
#   ARGV[8] key expiry (ms, PEXPIREAT)  ARGV[9] office  ARGV[10] service  ARGV[11] prefix
#   ARGV[12] NIK hash  ARGV[13] NIK last 4 digits  ARGV[14] name  ARGV[15] locale
#   ARGV[16] booking key template (id marker)
#   KEYS[7] the office's reminders due list; ARGV[17] reminder count n, then n x (offset, due ms)
#   KEYS[8] the day's roster; ARGV[18 + 2n] the day's window count m, then m x (window, default
#   capacity), in time order: the queue number plan, if this is the day-service's first number
# Returns {'OK', booking fields (flat)} | {'ERR', reason}. An existing booking of the same account
# is returned unchanged, so a redelivered confirmation never books twice.
CONFIRM = seat_script(
    """
local now, window, id, account = ARGV[1], ARGV[3], ARGV[5], ARGV[6]
local owner = redis.call('HGET', KEYS[6], 'account')
if owner then
  if owner == account then return {'OK', redis.call('HGETALL', KEYS[6])} end
  return {'ERR', 'id_collision'}
end
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return {'ERR', 'day_closed'} end
if live_nik(KEYS[5], ARGV[12], ARGV[16]) then return {'ERR', 'nik_has_booking'} end
if active_count(KEYS[4], ARGV[16]) >= tonumber(ARGV[7]) then return {'ERR', 'account_limit'} end
purge(KEYS[1], KEYS[2], now)
local old, old_window = find_hold(KEYS[2], id)
local cap, booked, held = counts(KEYS[1], window, ARGV[4])
if old_window == window then held = held - 1 end
if booked + held >= cap then return {'ERR', 'sold_out'} end
if old then
  drop_hold(KEYS[2], old, id)
  redis.call('HINCRBY', KEYS[1], 'held:' .. old_window, -1)
end
redis.call('HINCRBY', KEYS[1], 'booked:' .. window, 1)
touch(KEYS[1], KEYS[2])
local number = next_number(KEYS[1], window, 18 + 2 * (tonumber(ARGV[17]) or 0))
redis.call('HSET', KEYS[6], 'id', id, 'office', ARGV[9], 'day', ARGV[2], 'service', ARGV[10],
  'window', window, 'number', number, 'prefix', ARGV[11], 'nik_hash', ARGV[12],
  'nik_last4', ARGV[13], 'name', ARGV[14], 'account', account, 'locale', ARGV[15],
  'status', 'active', 'rescheduled', 0, 'created', now)
redis.call('PEXPIREAT', KEYS[6], ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('PEXPIREAT', KEYS[2], ARGV[8])
redis.call('PEXPIREAT', hold_index(KEYS[2]), ARGV[8])
redis.call('HSET', KEYS[5], ARGV[12], id)
redis.call('SADD', KEYS[4], id)
redis.call('ZADD', KEYS[8], call_order(window, number), id)
redis.call('PEXPIREAT', KEYS[8], ARGV[8])
mark(KEYS[8], id, KEYS[6])
remind(KEYS[7], id, ARGV[2], window, 17)
return {'OK', redis.call('HGETALL', KEYS[6])}
"""
)

# The bookings of one account, read in one call.
#   KEYS[1] account's active bookings
#   ARGV[1] booking key template (id marker)
# Returns a list of flat booking field lists. Ids whose booking vanished are dropped from the set.
ACTIVE_FOR_ACCOUNT = (
    LUA_HELPERS
    + """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HGETALL', fill(ARGV[1], ID_MARK, id))
  if #fields == 0 then
    redis.call('SREM', KEYS[1], id)
  else
    out[#out + 1] = fields
  end
end
return out
"""
)

# The office's active bookings, found by its NIK index (every active booking has its NIK's entry;
# an entry whose booking is no longer active is skipped), unless the backfill of their account
# claims is done already (bot/booking/counter.py, AccountClaims.backfill).
#   KEYS[1] niks  KEYS[2] the backfill's marker   ARGV[1] booking key template (id marker)
# Returns false when done, else {account, booking id, day, created (ms)} of each.
ACTIVE_BOOKINGS = (
    LUA_HELPERS
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local out = {}
for _, id in ipairs(redis.call('HVALS', KEYS[1])) do
  local f = redis.call('HMGET', fill(ARGV[1], ID_MARK, id), 'status', 'account', 'day', 'created')
  if f[1] == 'active' and f[2] then
    out[#out + 1] = {f[2], id, f[3], f[4] or '0'}
  end
end
return out
"""
)

# Cancel an active booking: its seat returns, its NIK and account slot are freed.
#   KEYS[1] booking  KEYS[2] niks
#   ARGV[1] now (ms)  ARGV[2] '1' to check the owner, '0' for staff/system
#   ARGV[3] account that asks  ARGV[4] day hash template (day, service markers)
#   ARGV[5] holds template (day, service markers)  ARGV[6] account set template (account marker)
#   ARGV[7] roster template (day marker)
# Returns {'OK', booking fields (flat)} | {'ERR', reason}.
CANCEL = seat_script(
    """
local b = booking_map(KEYS[1])
if not b.id or b.status ~= 'active' or (ARGV[2] == '1' and b.account ~= ARGV[3]) then
  return {'ERR', 'booking_not_found'}
end
local day_key = fill(fill(ARGV[4], DAY_MARK, b.day), SERVICE_MARK, b.service)
local holds_key = fill(fill(ARGV[5], DAY_MARK, b.day), SERVICE_MARK, b.service)
purge(day_key, holds_key, ARGV[1])
-- A day hash that already expired has no seat to give back (and must not be recreated).
if redis.call('EXISTS', day_key) == 1 then
  redis.call('HINCRBY', day_key, 'booked:' .. b.window, -1)
  touch(day_key, holds_key)
end
if redis.call('HGET', KEYS[2], b.nik_hash) == b.id then redis.call('HDEL', KEYS[2], b.nik_hash) end
redis.call('SREM', fill(ARGV[6], ACCOUNT_MARK, b.account), b.id)
redis.call('HSET', KEYS[1], 'status', 'cancelled')
mark(fill(ARGV[7], DAY_MARK, b.day), b.id, KEYS[1])
return {'OK', redis.call('HGETALL', KEYS[1])}
"""
)

# Move an active booking to another day and/or window of the same service, once.
#   KEYS[1] booking  KEYS[2] closed days
#   ARGV[1] now (ms)  ARGV[2] account that asks  ARGV[3] target day (ISO)  ARGV[4] target window
#   ARGV[5] default capacity of the target window  ARGV[6] day hash template (day, service markers)
#   ARGV[7] holds template (day, service markers)  ARGV[8] key expiry for the target day (ms)
#   KEYS[3] the office's reminders due list; ARGV[9] reminder count n, then n x (offset, due ms)
#   KEYS[4] the target day's roster; ARGV[10 + 2n] roster template (day marker), then the target
#   day's window count m and m x (window, default capacity), in time order (the number plan)
# Returns {'OK', booking fields (flat)} | {'ERR', reason}. A refusal changes nothing. The old
# time's reminders stay on the list: they are dropped there once the booking is found moved.
RESCHEDULE = seat_script(
    """
local now, day, window = ARGV[1], ARGV[3], ARGV[4]
local b = booking_map(KEYS[1])
if not b.id or b.status ~= 'active' or b.account ~= ARGV[2] then
  return {'ERR', 'booking_not_found'}
end
if b.rescheduled == '1' then return {'ERR', 'already_rescheduled'} end
if redis.call('SISMEMBER', KEYS[2], day) == 1 then return {'ERR', 'day_closed'} end
local old_day = fill(fill(ARGV[6], DAY_MARK, b.day), SERVICE_MARK, b.service)
local old_holds = fill(fill(ARGV[7], DAY_MARK, b.day), SERVICE_MARK, b.service)
local new_day = fill(fill(ARGV[6], DAY_MARK, day), SERVICE_MARK, b.service)
local new_holds = fill(fill(ARGV[7], DAY_MARK, day), SERVICE_MARK, b.service)
purge(old_day, old_holds, now)
if new_day ~= old_day then purge(new_day, new_holds, now) end
local cap, booked, held = counts(new_day, window, ARGV[5])
-- Moving within the same window: our own seat is among the booked ones.
if new_day == old_day and window == b.window then booked = booked - 1 end
if booked + held >= cap then return {'ERR', 'sold_out'} end
if redis.call('EXISTS', old_day) == 1 then
  redis.call('HINCRBY', old_day, 'booked:' .. b.window, -1)
  touch(old_day, old_holds)
end
redis.call('HINCRBY', new_day, 'booked:' .. window, 1)
touch(new_day, new_holds)
local after = 10 + 2 * (tonumber(ARGV[9]) or 0)
local number = next_number(new_day, window, after + 1)
local old_roster = fill(ARGV[after], DAY_MARK, b.day)
redis.call('ZREM', old_roster, b.id)
mark(old_roster, b.id, KEYS[1])
redis.call('ZADD', KEYS[4], call_order(window, number), b.id)
redis.call('HSET', KEYS[1], 'day', day, 'window', window, 'number', number, 'rescheduled', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('PEXPIREAT', new_day, ARGV[8])
redis.call('PEXPIREAT', KEYS[4], ARGV[8])
mark(KEYS[4], b.id, KEYS[1])
remind(KEYS[3], b.id, day, window, 9)
return {'OK', redis.call('HGETALL', KEYS[1])}
"""
)

# Staff override of one window's capacity; never below the seats already booked.
#   KEYS[1] day hash  KEYS[2] holds
#   ARGV[1] now (ms)  ARGV[2] window  ARGV[3] capacity  ARGV[4] key expiry (ms, PEXPIREAT)
# Returns {'OK', cap, booked, held} | {'ERR', 'below_booked', booked}.
SET_CAPACITY = seat_script(
    """
local window, cap = ARGV[2], tonumber(ARGV[3])
purge(KEYS[1], KEYS[2], ARGV[1])
local _, booked, held = counts(KEYS[1], window, 0)
if cap < booked then return {'ERR', 'below_booked', booked} end
redis.call('HSET', KEYS[1], 'cap:' .. window, cap)
touch(KEYS[1], KEYS[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {'OK', cap, booked, held}
"""
)


# For scripts over the closed days (KEYS[1]) of one day (ARGV[1]): announce_closed(changed)
# announces that the day was closed or opened again when `changed` is 1, and returns `changed`.
ANNOUNCE_CLOSED = (
    """
local function announce_closed(changed)
  if changed == 1 then
    redis.call('PUBLISH', '"""
    + SEATS_CHANNEL
    + """', cjson.encode({'c', KEYS[1], ARGV[1]}))
  end
  return changed
end
"""
)

# Close a day (SADD) or open it again (SREM), announcing a change.
#   KEYS[1] closed days  ARGV[1] day (ISO)  ARGV[2] 'SADD' | 'SREM'
# Returns 1 if the day changed state, else 0.
CLOSED_SET = ANNOUNCE_CLOSED + "return announce_closed(redis.call(ARGV[2], KEYS[1], ARGV[1]))\n"


class IdCollision(SeatError):
    """The booking id (= hold id) is taken by another account's booking: draw a new id."""

    reason = "id_collision"


_ERRORS: dict[str, type[SeatError]] = {**SEAT_ERRORS, IdCollision.reason: IdCollision}


@dataclass(frozen=True, slots=True)
class Availability:
    capacity: int
    booked: int
    held: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.booked - self.held)


@dataclass(frozen=True, slots=True)
class DaySeats:
    """What AVAILABILITY says of one day-service: its windows' seats, whether staff closed the
    day, and when its earliest live hold expires (ms; None without holds): the seats are only
    known until then, as that hold gives its seat back by the clock alone."""

    seats: dict[str, Availability]
    closed: bool
    first_expiry_ms: int | None


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    office: str
    day: date
    service: str
    window: str
    number: int
    prefix: str
    nik_hash: str
    nik_last4: str
    name: str
    account: str
    locale: str
    status: str
    rescheduled: bool
    created_ms: int

    @property
    def queue_number(self) -> str:
        return f"{self.prefix}-{self.number:03d}"

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Booking:
        return cls(
            id=fields["id"],
            office=fields["office"],
            day=date.fromisoformat(fields["day"]),
            service=fields["service"],
            window=fields["window"],
            number=int(fields["number"]),
            prefix=fields["prefix"],
            nik_hash=fields["nik_hash"],
            nik_last4=fields["nik_last4"],
            name=fields["name"],
            account=fields["account"],
            locale=fields["locale"],
            status=fields["status"],
            rescheduled=fields["rescheduled"] == "1",
            created_ms=int(fields["created"]),
        )


def _plain(what: str, value: str) -> str:
    # "|" separates the parts of a hold member and 0x1F marks key templates: neither may occur.
    if not value or "|" in value or "\x1f" in value:
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _flat(reminders: Sequence[tuple[int, int]]) -> list[int]:
    """Reminders as a script takes them: their count, then offset and due time of each."""
    return [len(reminders), *(value for pair in reminders for value in pair)]


def _plan(
    windows: Sequence[tuple[str, int]] | None, window: str, default_capacity: int
) -> list[str | int]:
    """The day's windows as a booking script takes them (its count, then window and default
    capacity of each); without them, ``window`` alone."""
    pairs = list(windows) if windows is not None else [(window, default_capacity)]
    return [len(pairs), *(value for pair in pairs for value in pair)]


def number_plan(windows: Sequence[Window], service_id: str) -> list[tuple[str, int]]:
    """``windows`` (in time order) as the ``windows`` of
    :meth:`SeatBook.confirm`: id and default capacity for ``service_id``."""
    return [(w.id, w.capacity(service_id)) for w in windows]


def block_size(capacity: int) -> int:
    """The size of a window's block of queue numbers (as the scripts' ``block_size``)."""
    want = capacity + max(2, capacity // 5)
    return max(10, -(-want // 10) * 10)


def _expiry_ms(day: date) -> int:
    """When the keys of a day expire: RETENTION after the day starts (UTC)."""
    return ms(datetime.combine(day, time(), tzinfo=UTC) + RETENTION)


def parse_day_seats(
    requests: Sequence[tuple[date, str, Mapping[str, int]]], flat: Sequence[Any]
) -> list[DaySeats]:
    """The AVAILABILITY script's reply to ``requests``, one :class:`DaySeats` each."""
    result: list[DaySeats] = []
    i = 0
    for _, _, windows in requests:
        closed, first = int(flat[i]) == 1, _text(flat[i + 1])
        i += 2
        seats: dict[str, Availability] = {}
        for window in windows:
            seats[window] = Availability(int(flat[i]), int(flat[i + 1]), int(flat[i + 2]))
            i += 3
        result.append(DaySeats(seats, closed, int(float(first)) if first else None))
    return result


class SeatBook:
    """The seat book of one office. Every state change is one script call (one round trip)."""

    def __init__(self, redis: aioredis.Redis, office_id: str, clock: Clock) -> None:
        self._redis = redis
        self._office = _plain("office id", office_id)
        self._clock = clock
        self._keys = OfficeKeys(office_id)
        self._availability = redis.register_script(AVAILABILITY)
        self._hold = redis.register_script(HOLD)
        self._release = redis.register_script(RELEASE)
        self._confirm = redis.register_script(CONFIRM)
        self._active = redis.register_script(ACTIVE_FOR_ACCOUNT)
        self._active_bookings = redis.register_script(ACTIVE_BOOKINGS)
        self._cancel = redis.register_script(CANCEL)
        self._reschedule = redis.register_script(RESCHEDULE)
        self._set_capacity = redis.register_script(SET_CAPACITY)
        self._closed_set = redis.register_script(CLOSED_SET)
        # Templates the scripts fill in for keys they only learn from a booking.
        self._day_template = self._keys.day(DAY_MARK, SERVICE_MARK)
        self._holds_template = self._keys.holds(DAY_MARK, SERVICE_MARK)
        self._account_template = self._keys.account(ACCOUNT_MARK)
        self._booking_template = self._keys.booking(ID_MARK)
        self._roster_template = self._keys.roster(DAY_MARK)

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    # -- reads ------------------------------------------------------------------------------

    async def availability(
        self, requests: Sequence[tuple[date, str, Mapping[str, int]]]
    ) -> list[dict[str, Availability]]:
        """Seats of many day-services: ``(day, service, {window: default capacity})`` each.

        One script call for all of them (one round trip, one consistent snapshot).
        """
        return [day.seats for day in await self.day_seats(requests)]

    async def day_seats(
        self, requests: Sequence[tuple[date, str, Mapping[str, int]]]
    ) -> list[DaySeats]:
        """:meth:`availability` with, per day-service, whether its day is closed and its
        earliest live hold's expiry (what a snapshot of it needs)."""
        if not requests:
            return []
        keys, args = self.availability_call(requests)
        return parse_day_seats(requests, await self._call(self._availability, keys, args))

    def availability_call(
        self, requests: Sequence[tuple[date, str, Mapping[str, int]]]
    ) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of the AVAILABILITY script for ``requests`` (at least one),
        for a caller that pipelines it with other offices' (``/metrics``): the keys are all
        this office's, in its slot. Its reply is read by :func:`parse_day_seats`."""
        keys: list[str] = [self._keys.closed]
        args: list[str | int] = [self._now()]
        for day, service, windows in requests:
            iso = day.isoformat()
            keys += [
                self._keys.day(iso, _plain("service", service)),
                self._keys.holds(iso, service),
            ]
            args += [iso, len(windows)]
            for window, default_capacity in windows.items():
                args += [_plain("window", window), default_capacity]
        return keys, args

    async def get(self, booking_id: str) -> Booking | None:
        try:
            fields = await self._redis.hgetall(self._keys.booking(booking_id))
        except RedisError as exc:
            raise StorageError(f"seat book of {self._office}: {exc}") from exc
        if not fields:
            return None
        return Booking.from_fields({_text(k): _text(v) for k, v in fields.items()})

    async def active_for_account(self, account: str) -> list[Booking]:
        """The account's active bookings, by day then window (one script call)."""
        replies = await self._call(
            self._active, [self._keys.account(account)], [self._booking_template]
        )
        bookings = [Booking.from_fields(_pairs(flat)) for flat in replies]
        return sorted((b for b in bookings if b.active), key=lambda b: (b.day, b.window, b.number))

    async def unclaimed_bookings(self) -> list[tuple[str, str, date, int]] | None:
        """(account, booking id, day, created ms) of every active booking, for the one-off
        backfill of account claims (one script call); None once :meth:`mark_claims_backfilled`
        said it is done."""
        reply = await self._call(
            self._active_bookings,
            [self._keys.niks, self._keys.claims_backfilled],
            [self._booking_template],
        )
        if reply is None:
            return None
        return [
            (_text(a), _text(i), date.fromisoformat(_text(d)), int(_text(c) or 0))
            for a, i, d, c in reply
        ]

    async def mark_claims_backfilled(self) -> None:
        try:
            await self._redis.set(self._keys.claims_backfilled, "1")
        except RedisError as exc:
            raise StorageError(f"seat book of {self._office}: {exc}") from exc

    # -- holds ------------------------------------------------------------------------------

    async def hold(
        self,
        *,
        hold_id: str,
        day: date,
        service: str,
        window: str,
        default_capacity: int,
        account: str,
        max_active: int,
        ttl_ms: int,
    ) -> None:
        """Hold a seat for ``ttl_ms``; holding again with the same id moves/refreshes the hold.

        Raises DayClosed, AccountLimit or SoldOut.
        """
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        iso = day.isoformat()
        now = self._now()
        reply = await self._call(
            self._hold,
            self._seat_keys(iso, service, account),
            [
                now,
                iso,
                _plain("window", window),
                default_capacity,
                _plain("hold id", hold_id),
                account,
                max_active,
                now + ttl_ms,
                _expiry_ms(day),
                self._booking_template,
            ],
        )
        self._check(reply)

    async def release(self, *, hold_id: str, day: date, service: str) -> None:
        """Drop a hold and give its seat back; nothing happens if it is gone already."""
        iso = day.isoformat()
        await self._call(
            self._release,
            [self._keys.day(iso, _plain("service", service)), self._keys.holds(iso, service)],
            [self._now(), hold_id],
        )

    # -- bookings ---------------------------------------------------------------------------

    async def confirm(
        self,
        *,
        hold_id: str,
        day: date,
        service: str,
        window: str,
        default_capacity: int,
        prefix: str,
        account: str,
        max_active: int,
        nik_hash: str,
        nik_last4: str,
        name: str,
        locale: str,
        reminders: Sequence[tuple[int, int]] = (),
        windows: Sequence[tuple[str, int]] | None = None,
    ) -> Booking:
        """Book the seat held under ``hold_id``; the booking's id is the hold id. Its
        ``reminders`` (offset minutes, due ms: :func:`bot.booking.reminders.due_reminders`) go on
        the office's due list in the same script. ``windows``: the day's windows in time order
        with their default capacities for ``service`` (:func:`number_plan`), from which the
        day-service's first booking fixes its queue number plan; without them the plan has
        ``window`` alone.

        Idempotent for the same account. Raises IdCollision (reason "id_collision") if the id
        belongs to another account's booking, DayClosed, NikHasBooking, AccountLimit or SoldOut.
        """
        iso = day.isoformat()
        reply = await self._call(
            self._confirm,
            [
                *self._seat_keys(iso, service, account),
                self._keys.niks,
                self._keys.booking(_plain("hold id", hold_id)),
                self._keys.reminders,
                self._keys.roster(iso),
            ],
            [
                self._now(),
                iso,
                _plain("window", window),
                default_capacity,
                hold_id,
                account,
                max_active,
                _expiry_ms(day),
                self._office,
                service,
                prefix,
                nik_hash,
                nik_last4,
                name,
                locale,
                self._booking_template,
                *_flat(reminders),
                *_plan(windows, window, default_capacity),
            ],
        )
        return self._booking(reply)

    async def cancel(self, booking_id: str, *, account: str | None) -> Booking:
        """Cancel an active booking. ``account=None`` skips the owner check (staff/system).

        Raises BookingNotFound if it does not exist, is not active or is someone else's.
        """
        reply = await self._call(
            self._cancel,
            [self._keys.booking(booking_id), self._keys.niks],
            [
                self._now(),
                "0" if account is None else "1",
                account or "",
                self._day_template,
                self._holds_template,
                self._account_template,
                self._roster_template,
            ],
        )
        return self._booking(reply)

    async def reschedule(
        self,
        booking_id: str,
        *,
        account: str,
        day: date,
        window: str,
        default_capacity: int,
        reminders: Sequence[tuple[int, int]] = (),
        windows: Sequence[tuple[str, int]] | None = None,
    ) -> Booking:
        """Move a booking to another day and/or window of its service, with a new queue number
        and the new time's ``reminders`` (``windows`` and reminders as for :meth:`confirm`).

        Allowed once per booking. Raises BookingNotFound, AlreadyRescheduled, DayClosed or SoldOut;
        a refusal changes nothing.
        """
        reply = await self._call(
            self._reschedule,
            [
                self._keys.booking(booking_id),
                self._keys.closed,
                self._keys.reminders,
                self._keys.roster(day.isoformat()),
            ],
            [
                self._now(),
                account,
                day.isoformat(),
                _plain("window", window),
                default_capacity,
                self._day_template,
                self._holds_template,
                _expiry_ms(day),
                *_flat(reminders),
                self._roster_template,
                *_plan(windows, window, default_capacity),
            ],
        )
        return self._booking(reply)

    # -- staff ------------------------------------------------------------------------------

    async def set_capacity(
        self, *, day: date, service: str, window: str, capacity: int
    ) -> Availability:
        """Override a window's capacity. Raises BelowBooked (details: booked=N) below bookings."""
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        iso = day.isoformat()
        reply = await self._call(
            self._set_capacity,
            [self._keys.day(iso, _plain("service", service)), self._keys.holds(iso, service)],
            [self._now(), _plain("window", window), capacity, _expiry_ms(day)],
        )
        rest = self._check(reply)
        return Availability(int(rest[0]), int(rest[1]), int(rest[2]))

    async def close_day(self, day: date) -> None:
        await self._closed_change(day, close=True)

    async def reopen_day(self, day: date) -> None:
        await self._closed_change(day, close=False)

    async def _closed_change(self, day: date, *, close: bool) -> None:
        """Close or reopen ``day`` and announce it, as Counter.close_day does (no reason kept)."""
        await self._call(
            self._closed_set, [self._keys.closed], [day.isoformat(), "SADD" if close else "SREM"]
        )

    async def is_closed(self, day: date) -> bool:
        try:
            return bool(await self._redis.sismember(self._keys.closed, day.isoformat()))
        except RedisError as exc:
            raise StorageError(f"seat book of {self._office}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------------------------

    def _now(self) -> int:
        return ms(self._clock.now())

    def _seat_keys(self, iso: str, service: str, account: str) -> list[str]:
        """The keys every seat-taking script starts with: the day-service's counts and holds,
        the closed days and the account's bookings (KEYS[1..4] of HOLD and CONFIRM)."""
        return [
            self._keys.day(iso, _plain("service", service)),
            self._keys.holds(iso, service),
            self._keys.closed,
            self._keys.account(_plain("account", account)),
        ]

    async def _call(self, script: AsyncScript, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise StorageError(f"seat book of {self._office}: {exc}") from exc

    @staticmethod
    def _check(reply: Any) -> list[Any]:
        """The payload of an {'OK', ...} reply; an {'ERR', reason, ...} reply raises its error."""
        if not isinstance(reply, list) or not reply:
            raise StorageError(f"unexpected script reply: {reply!r}")
        if _text(reply[0]) == "OK":
            return reply[1:]
        reason = _text(reply[1])
        details: dict[str, Any] = {}
        if reason == "below_booked":
            details["booked"] = int(reply[2])
        cls = _ERRORS.get(reason)
        if cls is None:
            error = SeatError(reason)
            error.reason = reason
            raise error
        raise cls(**details)

    def _booking(self, reply: Any) -> Booking:
        return Booking.from_fields(_pairs(self._check(reply)[0]))
