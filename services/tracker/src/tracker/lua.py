"""The Lua scripts of the tracker's store: each is one atomic commit of a decision.

Redis Cluster: a script's keys must share a hash slot. Every script here touches one
clinic's keys only (the global ``clinics`` set is written beside them, not inside), and
on a cluster a clinic's keys share its slot (``keys.Keys.spread``), so each script stays
one atomic commit there too.
"""

from __future__ import annotations

# KEYS: reminder, hourly counts, daily counts, failures stream[, the client's timeline].
# ARGV: expected rev, reminder ttl, hourly ttl, daily ttl, stream max length,
# JSON change {reminder: [[f, v]...] (its messages' fields included; '' deletes a field),
# counts: [[f, n]...], failure: [f, v, ...], claim: field or '', timeline: [[f, v,
# ...]...]}, timeline max length, timeline min id (entries older than the retention
# go), timeline ttl.
# Applies the change if nobody committed for this reminder since it was loaded (optimistic
# concurrency on the reminder's rev ``v``): a decision made on stale state is refused
# whole (-1), so counters, the failure entry and the announcement claim are written once.
DELIVERY_COMMIT = """
local rev = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if rev ~= tonumber(ARGV[1]) then return -1 end
local c = cjson.decode(ARGV[6])
for _, p in ipairs(c.reminder) do
  if p[2] == '' then
    redis.call('HDEL', KEYS[1], p[1])
  else
    redis.call('HSET', KEYS[1], p[1], p[2])
  end
end
if c.claim ~= '' then redis.call('HSET', KEYS[1], c.claim, '1') end
redis.call('HSET', KEYS[1], 'v', rev + 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if #c.counts > 0 then
  for _, p in ipairs(c.counts) do
    redis.call('HINCRBY', KEYS[2], p[1], p[2])
    redis.call('HINCRBY', KEYS[3], p[1], p[2])
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
if #c.failure > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', unpack(c.failure))
end
if #KEYS > 4 and #c.timeline > 0 then
  for _, e in ipairs(c.timeline) do
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', unpack(e))
  end
  redis.call('XTRIM', KEYS[5], 'MINID', '~', ARGV[8])
  redis.call('EXPIRE', KEYS[5], ARGV[9])
end
return rev + 1
"""

# KEYS: assignment record, client index, the clinic's active set, the clinic's client index.
# ARGV: the record as loaded ('' if none), the new record, ttl, assignment id,
# <clinic>/<assignment>, '1' if cancelled, client ref, now (epoch seconds).
# Compare-and-set: 0 when the record changed since it was loaded (the caller loads and
# decides again), 1 when written. The clinic's clients are scored by their last write;
# those older than the retention (their records are gone) are dropped.
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
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[8]) - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[4], ARGV[3])
return 1
"""

# KEYS: a policy key. ARGV: the policy (JSON), its version. Kept only if newer.
POLICY_PUT = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(cjson.decode(current).version) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# KEYS: completions hash, the completion's claim as the previous layout kept it (a key
# of its own), the client's timeline[, the encouragement's claim].
# ARGV: day, completion (claimed: ``1`` then what it says), assignment ttl,
# encouragement (and timeline) ttl, timeline entry (JSON [f, v, ...]), timeline max
# length, timeline min id.
# Records the occurrence once (HSETNX), on the timeline too, and claims its
# announcement: the first character of the stored value (``1`` claimed, ``0`` released
# after a failed publish: claimed again now). A value from before that encoding (JSON,
# ``{``) keeps its claim in the old claim key. Returns {added, claimed, encouragement
# claimed}.
COMPLETION_COMMIT = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local claimed = added
if added == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', unpack(cjson.decode(ARGV[5])))
  redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
else
  local v = redis.call('HGET', KEYS[1], ARGV[1])
  local flag = string.sub(v, 1, 1)
  if flag == '0' then
    redis.call('HSET', KEYS[1], ARGV[1], '1' .. string.sub(v, 2))
    claimed = 1
  elseif flag == '{' then
    claimed = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) and 1 or 0
  end
end
local encourage = 0
if #KEYS > 3 then
  encourage = redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[4]) and 1 or 0
end
return {added, claimed, encourage}
"""

# KEYS: completions hash, the previous layout's claim key. ARGV: day.
# Gives a completion's announcement claim back (its publish failed): the retry claims.
COMPLETION_RELEASE = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, 1) == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], '0' .. string.sub(v, 2))
end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: the client's plan hash, the client's timeline (one clinic's: one slot).
# ARGV: the plan's time (microseconds), the plan (JSON), ttl, timeline max length,
# timeline min id, JSON {seen: [f, v, ...], forget: [f...], timeline: [[f, v, ...]...]}.
# Newest plan wins: an older or equal one is refused (0), with nothing written.
PLAN_COMMIT = """
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '-1')
if at >= tonumber(ARGV[1]) then return 0 end
local c = cjson.decode(ARGV[6])
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'plan', ARGV[2])
if #c.seen > 0 then redis.call('HSET', KEYS[1], unpack(c.seen)) end
if #c.forget > 0 then redis.call('HDEL', KEYS[1], unpack(c.forget)) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #c.timeline > 0 then
  for _, e in ipairs(c.timeline) do
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(e))
  end
  redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""

# Trims a policy's history hash (HISTORY) to its newest ARGV[3] versions.
_TRIM_HISTORY = """
local versions = redis.call('HKEYS', HISTORY)
local extra = #versions - tonumber(ARGV[3])
if extra > 0 then
  table.sort(versions, function(a, b) return tonumber(a) < tonumber(b) end)
  for i = 1, extra do redis.call('HDEL', HISTORY, versions[i]) end
end
"""

# KEYS: the policy, its version claim, its history. ARGV: the version the editor started
# from, the history entry (JSON), history kept, the version stored elsewhere (a policy in
# the previous key layout; 0 if none). A save takes the next version only if nobody took
# it since the editor loaded the policy: {1, version} or {0, the latest version}.
POLICY_CLAIM = (
    """
local stored = tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
if raw then stored = math.max(stored, tonumber(cjson.decode(raw).version)) end
local latest = math.max(stored, tonumber(redis.call('GET', KEYS[2]) or '0'))
if latest ~= tonumber(ARGV[1]) then return {0, latest} end
local version = latest + 1
redis.call('SET', KEYS[2], version)
redis.call('HSET', KEYS[3], version, ARGV[2])
"""
    + _TRIM_HISTORY.replace("HISTORY", "KEYS[3]")
    + """
return {1, version}
"""
)

# KEYS: the version claim, the history. ARGV: the claimed version. A save whose publish
# failed gives its version back (unless a later save claimed past it).
POLICY_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - 1)
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: the history. ARGV: version, entry, kept. A version's entry is written once: a
# console save's own entry is not replaced by the "EHR" one of the same event coming
# back through the queue.
POLICY_HISTORY_ADD = (
    """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
"""
    + _TRIM_HISTORY.replace("HISTORY", "KEYS[1]")
    + """
return added
"""
)

# KEYS: the clinic's client index, its active set, its failures stream, then the keys to
# delete; or (``head`` 0) only keys to delete. ARGV: client ref, JSON {head: 3 or 0,
# kinds: [the kind of each key to delete, in order], active: [<clinic>/<assignment>...],
# failures: [stream entry id...]}.
# A client's erasure (``usecases/erasure.py``), all at once: its keys, its place in the
# clinic's client index, its assignments in ``active`` and the failures entries of its
# reminders. Returns the counts per kind (JSON). On a cluster the client's global keys
# (done links) are another slot: a second call deletes them (``head`` 0).
ERASE_CLIENT = """
local c = cjson.decode(ARGV[2])
local counts = {}
local function add(kind, n) counts[kind] = (counts[kind] or 0) + n end
for i, kind in ipairs(c.kinds) do add(kind, redis.call('DEL', KEYS[i + c.head])) end
if c.head == 0 then return cjson.encode(counts) end
add('clinic_client_entries', redis.call('ZREM', KEYS[1], ARGV[1]))
for _, m in ipairs(c.active) do add('active_entries', redis.call('SREM', KEYS[2], m)) end
if #c.failures > 0 then
  add('failure_entries', redis.call('XDEL', KEYS[3], unpack(c.failures)))
end
return cjson.encode(counts)
"""

# KEYS: an erasure's gather hash (named by clinic and erasure event id, never the
# client). ARGV: service, its counts (JSON), ttl, how many services report.
# Keeps a service's first report (a redelivery, which deleted nothing more, reports
# zeros); once every service reported (and the completion was not announced yet)
# returns every report, else nothing.
ERASURE_GATHER = """
if redis.call('HEXISTS', KEYS[1], '_announced') == 1 then return false end
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[4]) then return false end
return redis.call('HGETALL', KEYS[1])
"""
