"""The Lua scripts of a send: load what a decision needs, reserve right before the provider
call, record the outcome. Each is one round trip and atomic. Key layout: ``keys.py``."""

from __future__ import annotations

# Takes a token from a bucket: 0 when taken, else the milliseconds until one will be
# available (nothing is taken then). Redis' clock is not used (scripts cannot read it
# deterministically); replicas' clocks are NTP-close, plenty for a per-second bucket.
_BUCKET = """
local function take_token(key, rate, burst, now)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  return wait
end
"""

# KEYS[1] bucket; ARGV: rate/s, burst, now (ms).
TAKE_TOKEN = (
    _BUCKET + "return take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"
)

# KEYS: 1 sent, 2 sent (legacy), 3 client, 4 opt-outs, 5 policy, 6 clinic's latest policy,
# 7 failed channels, 8 assignment; for a digest, then per other reminder: its sent, its
# assignment. ARGV: prefix, clinic id.
# Returns {sent record, prefs, SMS number hash (nil: not kept yet), opt-outs, policy,
# failed channels, assignment rev, assignment data, number stopped, clinic texted number,
# {sent, assignment rev, assignment data} per other reminder of a digest}.
# The policy a reminder names may be unknown (then the clinic's latest) and the number
# keys come from the client's record: derived keys, see keys.py on Redis Cluster.
LOAD = """
local sent = redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[2])
local client = redis.call('HMGET', KEYS[3], 'data', 'sms')
local policy = redis.call('HGET', KEYS[5], 'data')
if not policy then
  local latest = redis.call('GET', KEYS[6])
  if latest then
    policy = redis.call('HGET', ARGV[1] .. ':policy:' .. ARGV[2] .. ':' .. latest, 'data')
  end
end
local assignment = redis.call('HMGET', KEYS[8], 'rev', 'data')
local stopped, seen = 0, 0
local number = client[2]
if number and number ~= '' then
  stopped = redis.call('EXISTS', ARGV[1] .. ':number:stop:' .. number)
  seen = redis.call('EXISTS', ARGV[1] .. ':number:seen:' .. ARGV[2] .. ':' .. number)
end
local members = {}
for i = 9, #KEYS, 2 do
  local a = redis.call('HMGET', KEYS[i + 1], 'rev', 'data')
  members[#members + 1] = {redis.call('GET', KEYS[i]), tonumber(a[1] or '0'), a[2]}
end
return {sent, client[1], number, redis.call('SMEMBERS', KEYS[4]), policy,
        redis.call('SMEMBERS', KEYS[7]), tonumber(assignment[1] or '0'), assignment[2],
        stopped, seen, members}
"""

# For a client record written before it kept its number's hash: the number flags, and
# the hash kept from now on if the preferences are still those that were read.
# KEYS: client, number stop, clinic texted number. ARGV: prefs version as read, hash.
LEGACY_NUMBER = """
if redis.call('HGET', KEYS[1], 'version') == ARGV[1] then
  redis.call('HSETNX', KEYS[1], 'sms', ARGV[2])
end
return {redis.call('EXISTS', KEYS[2]), redis.call('EXISTS', KEYS[3])}
"""

# Right before a provider call, all or nothing: the reminder is not sent yet, nobody else
# holds its lease, its assignment has not changed since the load (else the new state, to
# decide again), a cap slot is free (or already held by it), the provider's circuit is
# closed and a rate token is there. Then it takes the lease, the slot and the token.
# A digest (one message for several reminders) is reserved as its key reminder, and
# every other reminder it carries must be unsent, not leased by anyone else and
# unchanged too; its leases are taken with the key's. Any change there answers
# ``regroup``: decide again which reminders the message carries.
# KEYS: 1 sent, 2 sent (legacy), 3 lease, 4 assignment, 5 caps day, 6 caps week,
# 7 caps held, 8 circuit open, 9 rate bucket; for a digest, then per other reminder:
# its sent, its lease, its assignment.
# ARGV: 1 token, 2 lease ms, 3 assignment rev as loaded, 4 reminder id, 5 per day,
# 6 per week, 7 day TTL, 8 week TTL, 9 held TTL, 10 rate/s, 11 burst, 12 now ms; for a
# digest, then each other reminder's assignment rev as loaded.
# Returns {outcome, number[, assignment data]}: ok | sent | busy (lease ms left) |
# changed (rev, data) | regroup | cap | open (ms left) | wait (ms).
RESERVE = (
    _BUCKET
    + """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return {'sent', 0} end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return {'busy', redis.call('PTTL', KEYS[3])} end
local assignment = redis.call('HMGET', KEYS[4], 'rev', 'data')
local rev = tonumber(assignment[1] or '0')
if #KEYS > 9 then
  if rev ~= tonumber(ARGV[3]) then return {'regroup', 0} end
  for i = 10, #KEYS, 3 do
    if redis.call('EXISTS', KEYS[i]) > 0 then return {'regroup', 0} end
    local other = redis.call('GET', KEYS[i + 1])
    if other and other ~= ARGV[1] then return {'busy', redis.call('PTTL', KEYS[i + 1])} end
    local r = tonumber(redis.call('HGET', KEYS[i + 2], 'rev') or '0')
    if r ~= tonumber(ARGV[13 + (i - 10) / 3]) then return {'regroup', 0} end
  end
end
if rev ~= tonumber(ARGV[3]) then return {'changed', rev, assignment[2] or ''} end
local held = redis.call('EXISTS', KEYS[7]) == 1
if not held then
  if redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[5]) then return {'cap', 0} end
  if redis.call('SCARD', KEYS[6]) >= tonumber(ARGV[6]) then return {'cap', 0} end
end
local open = redis.call('PTTL', KEYS[8])
if open > 0 then return {'open', open} end
local wait = take_token(KEYS[9], tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]))
if wait > 0 then return {'wait', wait} end
redis.call('SET', KEYS[3], ARGV[1], 'PX', tonumber(ARGV[2]))
for i = 11, #KEYS, 3 do redis.call('SET', KEYS[i], ARGV[1], 'PX', tonumber(ARGV[2])) end
if not held then
  redis.call('SADD', KEYS[5], ARGV[4])
  redis.call('SADD', KEYS[6], ARGV[4])
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[7]))
  redis.call('EXPIRE', KEYS[6], tonumber(ARGV[8]))
  redis.call('SET', KEYS[7], cjson.encode({KEYS[5], KEYS[6]}), 'EX', tonumber(ARGV[9]))
end
return {'ok', 0}
"""
)

# The provider accepted: the record (a redelivery only re-announces it from now on), the
# circuit's failures forgotten, the lease released; for an SMS also the clinic's
# first-text marker and the number's last reminder (an SMS reply's "DONE" and "HELP").
# A digest records every reminder it carried, each with its own record, and releases
# their leases.
# KEYS: sent, lease, circuit failures[, number seen, number last][, per other reminder of
# a digest: its sent, its lease].
# ARGV: record JSON, record TTL, token, 1 when the number keys are there, last reminder
# JSON, its TTL[, per other reminder: its record JSON].
COMMIT_SENT = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
local first = 4
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], '1')
  redis.call('SET', KEYS[5], ARGV[5], 'EX', tonumber(ARGV[6]))
  first = 6
end
for i = first, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[7 + (i - first) / 2], 'EX', tonumber(ARGV[2]))
  if redis.call('GET', KEYS[i + 1]) == ARGV[3] then redis.call('DEL', KEYS[i + 1]) end
end
return 1
"""

# The end of a send that did not record one: release the lease if still ours, give the
# cap slot back (where it was counted), claim a once-announcement.
# KEYS: lease, caps held, once. ARGV: token, reminder id, once TTL, give back (1/0),
# claim (1/0). 1 if the once-claim was made now.
SETTLE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[4] == '1' then
  local held = redis.call('GET', KEYS[2])
  if held then
    local sets = cjson.decode(held)
    redis.call('SREM', sets[1], ARGV[2])
    redis.call('SREM', sets[2], ARGV[2])
    redis.call('DEL', KEYS[2])
  end
end
if ARGV[5] == '1' and redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[3])) then
  return 1
end
return 0
"""

# A permanent failure on a channel (a retry fails over); the number stopped too when
# the carrier says its owner replied STOP. KEYS: failed[, number stop]. ARGV: channel, TTL.
FAILED = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
if #KEYS == 2 then redis.call('SET', KEYS[2], '1') end
return 1
"""

# KEYS: failures, open. ARGV: window s, threshold, open s. 1 if this failure opened it.
BREAKER_FAILURE = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]), 'NX')
if n < tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]), 'NX') then return 1 end
return 0
"""
