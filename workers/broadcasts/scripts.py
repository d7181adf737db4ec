"""The Lua scripts of a broadcast. Each touches only keys of one broadcast
(:class:`bot.infra.keys.BroadcastKeys`, one ``{b:<id>}`` hash tag, so one Redis Cluster slot).

A recipient's state moves pending -> sending:<attempt> -> sent | failed | undeliverable, or to
unconfirmed (its attempt died mid-send) or cancelled (the broadcast was stopped first).
"""

from __future__ import annotations

# Sweep a batch at the start of an attempt.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1..n] the batch's recipients
# A recipient still "sending" belongs to an attempt that died mid-send: it becomes "unconfirmed"
# (it may have received the message; it must not get a second one). If the broadcast is not
# running any more, pending recipients become "cancelled". Returns {status, pending recipients...}
# or {'missing'}.
SWEEP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local status = redis.call('HGET', KEYS[1], 'status')
local out = {status}
for i = 1, #ARGV do
  local st = redis.call('HGET', KEYS[2], ARGV[i])
  if st and string.sub(st, 1, 8) == 'sending:' then
    redis.call('HSET', KEYS[2], ARGV[i], 'unconfirmed')
    redis.call('HINCRBY', KEYS[1], 'unconfirmed', 1)
  elseif st == 'pending' then
    if status == 'running' then
      out[#out + 1] = ARGV[i]
    else
      redis.call('HSET', KEYS[2], ARGV[i], 'cancelled')
      redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
    end
  end
end
return out
"""

# Claim one recipient right before its send.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1] recipient   ARGV[2] attempt token
# Returns 'claimed', 'missing' (no such broadcast or recipient), 'cancelled' (the broadcast was
# cancelled: the recipient is counted so) or the recipient's state when it is not pending.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local st = redis.call('HGET', KEYS[2], ARGV[1])
if not st then return 'missing' end
if st ~= 'pending' then return st end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then
  redis.call('HSET', KEYS[2], ARGV[1], 'cancelled')
  redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
  return 'cancelled'
end
redis.call('HSET', KEYS[2], ARGV[1], 'sending:' .. ARGV[2])
return 'claimed'
"""

# Record how a claimed send ended, if the claim is still this attempt's.
#   KEYS[1] meta   KEYS[2] recipient state
#   ARGV[1] recipient   ARGV[2] attempt token   ARGV[3] sent | failed | undeliverable
# Returns 1 when recorded, 0 when the claim was no longer ours (a sweep took it over).
FINISH = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'sending:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
return 1
"""

# Mark one batch finished, once however often it runs.
#   KEYS[1] meta   KEYS[2] set of finished batches
#   ARGV[1] batch number   ARGV[2] now (ms)
# Returns 'missing', 'again' (this batch had finished before), 'more' or 'last' (exactly once per
# broadcast: the caller reports the tally).
BATCH_DONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'again' end
local left = redis.call('HINCRBY', KEYS[1], 'batches_left', -1)
if left > 0 then return 'more' end
if redis.call('HGET', KEYS[1], 'status') == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'done')
end
redis.call('HSET', KEYS[1], 'finished_ms', ARGV[2])
return 'last'
"""

# Stop a running broadcast.   KEYS[1] meta   Returns 1 if it was running, else 0.
CANCEL = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
return 1
"""
