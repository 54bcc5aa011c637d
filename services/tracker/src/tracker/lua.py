"""The Lua scripts of the tracker's store: each is one atomic commit of a decision.

Redis Cluster: a script's keys must share a hash slot. The delivery commit's reminder and
message hashes do (tag ``{<clinic>/<reminder>}``); its counters, ``clinics`` set and
failures stream are the clinic's, named before tags existed, so they cannot share it
without a new key layout (on a cluster they would move to a second call after the
commit). The same holds for the assignment commit (record, client index, ``active``)
and the completion commit (completions hash and its claims). The policy script and the
done-link script touch one key each.
"""

from __future__ import annotations

# KEYS: reminder, message, hourly counts, daily counts, clinics, failures stream.
# ARGV: expected rev, delivery ttl, hourly ttl, daily ttl, stream max length, clinic,
# JSON change {reminder: [[f, v]...], message: [[f, v]...], counts: [[f, n]...],
# failure: [f, v, ...], claim: field or ''}.
# Applies the change if nobody committed for this reminder since it was loaded (optimistic
# concurrency on the reminder's ``rev``): a decision made on stale state is refused
# whole (-1), so counters, the failure entry and the announcement claim are written once.
DELIVERY_COMMIT = """
local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return -1 end
local c = cjson.decode(ARGV[7])
for _, p in ipairs(c.reminder) do redis.call('HSET', KEYS[1], p[1], p[2]) end
if c.claim ~= '' then redis.call('HSET', KEYS[1], c.claim, '1') end
redis.call('HSET', KEYS[1], 'rev', rev + 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if #c.message > 0 then
  for _, p in ipairs(c.message) do redis.call('HSET', KEYS[2], p[1], p[2]) end
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
if #c.counts > 0 then
  for _, p in ipairs(c.counts) do
    redis.call('HINCRBY', KEYS[3], p[1], p[2])
    redis.call('HINCRBY', KEYS[4], p[1], p[2])
  end
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[6])
end
if #c.failure > 0 then
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[5], '*', unpack(c.failure))
  redis.call('SADD', KEYS[5], ARGV[6])
end
return rev + 1
"""

# KEYS: assignment record, client index, active set.
# ARGV: the record as loaded ('' if none), the new record, ttl, assignment id,
# <clinic>/<assignment>, '1' if cancelled. Compare-and-set: 0 when the record changed
# since it was loaded (the caller loads and decides again), 1 when written.
ASSIGNMENT_COMMIT = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if ARGV[6] == '1' then
  redis.call('SREM', KEYS[3], ARGV[5])
else
  redis.call('SADD', KEYS[3], ARGV[5])
end
return 1
"""

# KEYS: a policy key. ARGV: the policy (JSON), its version. Kept only if newer.
POLICY_PUT = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(cjson.decode(current).version) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# KEYS: completions hash, the completion's claim[, the encouragement's claim].
# ARGV: day, completion (JSON), assignment ttl, encouragement ttl.
# Records the occurrence once (HSETNX) and claims its announcements: {added, claimed,
# encouragement claimed}.
COMPLETION_COMMIT = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local claimed = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) and 1 or 0
local encourage = 0
if #KEYS > 2 then
  encourage = redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) and 1 or 0
end
return {added, claimed, encourage}
"""
