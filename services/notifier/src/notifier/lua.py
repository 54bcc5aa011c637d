"""The Lua scripts of a send: load what a decision needs, reserve right before the provider
call, record the outcome. Each script touches one hash slot (the client's, the clinic's,
the number's or the provider's: ``keys.py``) and is atomic there; a step's scripts run
together (``shared.service.eval_together``), one round trip on a single Redis."""

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

# The client's part of a send's load (its slot: ``keys.py``).
# KEYS: 1 sent, 2 preferences, 3 opt-outs, 4 failed channels, 5 assignment; for a digest,
# then per other reminder: its sent, its assignment.
# Returns {sent record, prefs, SMS number hash (nil: not kept yet), opt-outs, failed
# channels, assignment rev, assignment data, {sent, assignment rev, assignment data} per
# other reminder of a digest}.
LOAD_CLIENT = """
local client = redis.call('HMGET', KEYS[2], 'data', 'sms')
local assignment = redis.call('HMGET', KEYS[5], 'rev', 'data')
local members = {}
for i = 6, #KEYS, 2 do
  local a = redis.call('HMGET', KEYS[i + 1], 'rev', 'data')
  members[#members + 1] = {redis.call('GET', KEYS[i]), tonumber(a[1] or '0'), a[2]}
end
return {redis.call('GET', KEYS[1]), client[1], client[2], redis.call('SMEMBERS', KEYS[3]),
        redis.call('SMEMBERS', KEYS[4]), tonumber(assignment[1] or '0'), assignment[2],
        members}
"""

# The clinic's part: the policy a reminder names, or (unknown) the clinic's latest; the
# policies are fields of one hash, so the fallback reads no key it was not given.
# KEYS: the clinic's policies. ARGV: policy id.
LOAD_POLICY = """
local policy = redis.call('HGET', KEYS[1], 'd:' .. ARGV[1])
if policy then return policy end
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return false end
return redis.call('HGET', KEYS[1], 'd:' .. latest)
"""

# The number's part, once the client's record named it: {stopped, clinic texted it}.
# KEYS: number stop, clinic texted number.
NUMBER_FLAGS = """
return {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2])}
"""

# The client's part of the reservation right before a provider call, all or nothing: the
# reminder is not sent yet, nobody else holds its lease, its assignment has not changed
# since the load (else the new state, to decide again) and a cap slot is free (or
# already held by it). Then it takes the lease and the slot.
# A digest (one message for several reminders) is reserved as its key reminder, and
# every other reminder it carries must be unsent, not leased by anyone else and
# unchanged too; its leases are taken with the key's. Any change there answers
# ``regroup``: decide again which reminders the message carries.
# KEYS: 1 sent, 2 lease, 3 assignment, 4 caps day, 5 caps week, 6 caps held; for a
# digest, then per other reminder: its sent, its lease, its assignment.
# ARGV: 1 token, 2 lease ms, 3 assignment rev as loaded, 4 reminder id, 5 per day,
# 6 per week, 7 day TTL, 8 week TTL, 9 held TTL; for a digest, then each other
# reminder's assignment rev as loaded.
# Returns {outcome, number[, assignment data]}: ok (1 if the cap slot was taken now) |
# sent | busy (lease ms left) | changed (rev, data) | regroup | cap.
RESERVE_CLIENT = """
if redis.call('EXISTS', KEYS[1]) > 0 then return {'sent', 0} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'busy', redis.call('PTTL', KEYS[2])} end
local assignment = redis.call('HMGET', KEYS[3], 'rev', 'data')
local rev = tonumber(assignment[1] or '0')
if #KEYS > 6 then
  if rev ~= tonumber(ARGV[3]) then return {'regroup', 0} end
  for i = 7, #KEYS, 3 do
    if redis.call('EXISTS', KEYS[i]) > 0 then return {'regroup', 0} end
    local other = redis.call('GET', KEYS[i + 1])
    if other and other ~= ARGV[1] then return {'busy', redis.call('PTTL', KEYS[i + 1])} end
    local r = tonumber(redis.call('HGET', KEYS[i + 2], 'rev') or '0')
    if r ~= tonumber(ARGV[10 + (i - 7) / 3]) then return {'regroup', 0} end
  end
end
if rev ~= tonumber(ARGV[3]) then return {'changed', rev, assignment[2] or ''} end
local held = redis.call('EXISTS', KEYS[6]) == 1
if not held then
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[5]) then return {'cap', 0} end
  if redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[6]) then return {'cap', 0} end
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]))
for i = 8, #KEYS, 3 do redis.call('SET', KEYS[i], ARGV[1], 'PX', tonumber(ARGV[2])) end
if held then return {'ok', 0} end
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[4])
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[7]))
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[8]))
redis.call('SET', KEYS[6], cjson.encode({KEYS[4], KEYS[5]}), 'EX', tonumber(ARGV[9]))
return {'ok', 1}
"""

# The provider's part, run together with the client's: the circuit is closed and a rate
# token is there (taken). KEYS: circuit open, rate bucket. ARGV: rate/s, burst, now ms.
# Returns {ok, 0} | {open, ms left} | {wait, ms}.
RESERVE_PROVIDER = (
    _BUCKET
    + """
local open = redis.call('PTTL', KEYS[1])
if open > 0 then return {'open', open} end
local wait = take_token(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait > 0 then return {'wait', wait} end
return {'ok', 0}
"""
)

# The client's part was taken but the provider's refused (circuit open, no token yet):
# the leases go back and the cap slot if it was taken now.
# KEYS: lease, caps day, caps week, caps held, then the digest's other leases.
# ARGV: token, reminder id, 1 if the slot was taken now.
UNRESERVE = """
for i = 1, #KEYS do
  if (i == 1 or i > 4) and redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
if ARGV[3] == '1' then
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[4])
end
return 1
"""

# The provider accepted, the client's part: the record (a redelivery only re-announces it
# from now on), the lease released. A digest records every reminder it carried, each
# with its own record, and releases their leases.
# KEYS: sent, lease[, per other reminder of a digest: its sent, its lease].
# ARGV: record JSON, record TTL, token[, per other reminder: its record JSON].
COMMIT_SENT = """
for i = 1, #KEYS, 2 do
  local record = ARGV[1]
  if i > 1 then record = ARGV[3 + (i - 1) / 2] end
  redis.call('SET', KEYS[i], record, 'EX', tonumber(ARGV[2]))
  if redis.call('GET', KEYS[i + 1]) == ARGV[3] then redis.call('DEL', KEYS[i + 1]) end
end
return 1
"""

# The number's part of an SMS's record: the clinic's first-text marker and the number's
# last reminder (an SMS reply's "DONE" and "HELP"). KEYS: seen, last. ARGV: last JSON, TTL.
NUMBER_SENT = """
redis.call('SET', KEYS[1], '1')
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""

# The provider's part of a record: the circuit's failures forgotten. KEYS: failures.
FORGET_FAILURES = "return redis.call('DEL', KEYS[1])"

# The end of a send that did not record one: release the lease if still ours, give the
# cap slot back (where it was counted, as read from ``held`` just before), claim a
# once-announcement.
# KEYS: lease, caps held, once[, caps day, caps week]. ARGV: token, reminder id, once
# TTL, give back (1/0), claim (1/0), held as read. 1 if the once-claim was made now.
SETTLE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[4] == '1' and #KEYS == 5 and redis.call('GET', KEYS[2]) == ARGV[6] then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('SREM', KEYS[5], ARGV[2])
  redis.call('DEL', KEYS[2])
end
if ARGV[5] == '1' and redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[3])) then
  return 1
end
return 0
"""

# A permanent failure on a channel (a retry fails over). KEYS: failed. ARGV: channel, TTL.
FAILED = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

# The number stopped (the carrier says its owner replied STOP). KEYS: number stop.
STOP_NUMBER = "return redis.call('SET', KEYS[1], '1')"

# KEYS: failures, open. ARGV: window s, threshold, open s. 1 if this failure opened it.
BREAKER_FAILURE = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]), 'NX')
if n < tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]), 'NX') then return 1 end
return 0
"""
