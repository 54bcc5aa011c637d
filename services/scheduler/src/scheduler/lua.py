"""The Lua scripts of the timer store. Each touches keys of one hash slot only."""

from __future__ import annotations

# KEYS: due, fire, clients, client.  ARGV: expected rev, roll-at ms, JSON change.
# Replaces the client's state and timers atomically if nobody else changed it since it
# was read (optimistic concurrency on ``rev``), so the caller's ``remove`` (its old timers
# not in the new plan) is exactly what is stored. Timers in both plans keep their score
# (ZADD NX), so one that is claimed (leased) right now is not fired twice.
COMMIT = """
local rev = tonumber(redis.call('HGET', KEYS[4], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return -1 end
local c = cjson.decode(ARGV[3])
for _, m in ipairs(c.remove) do redis.call('ZREM', KEYS[1], m) end
for _, t in ipairs(c.timers) do redis.call('ZADD', KEYS[1], 'NX', t[2], t[1]) end
for _, p in ipairs(c.hset) do redis.call('HSET', KEYS[4], p[1], p[2]) end
for _, f in ipairs(c.hdel) do redis.call('HDEL', KEYS[4], f) end
for _, p in ipairs(c.fire_set) do redis.call('HSET', KEYS[2], p[1], p[2]) end
for _, a in ipairs(c.fire_del) do redis.call('HDEL', KEYS[2], a) end
redis.call('HSET', KEYS[4], 'timers', c.packed, 'rev', rev + 1)
redis.call('ZADD', KEYS[3], ARGV[2], c.client)
return rev + 1
"""


# Removes published timers (ARGV[from]...), unless their lease (ARGV[lease]) ran out and
# another replica took them: then their score is that replica's lease.
def _ack(lease: int, first: int) -> str:
    return f"""
local acked = 0
for i = {first}, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[{lease}]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    acked = acked + 1
  end
end
"""


# KEYS: due, fire.  ARGV: max items, lease ms, ahead ms, lease of the acks, members to
# ack...
# First acks what the caller published since its last claim on this shard (one call per
# batch instead of two), then takes the timers due by the server's clock, and those due
# within ``ahead`` ms that nobody claimed yet, and pushes each one's score to the lease
# expiry: acked timers are removed; a timer whose replica died simply becomes due again,
# at its lease's end and not ``ahead`` of it (a timer's member ends with its planned
# time: a score that differs from it is a lease). Returns when to look again: the next
# timer's time less ``ahead``, or a lease's end.
CLAIM = (
    _ack(lease=4, first=5)
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ahead = tonumber(ARGV[3])
local function planned(m) return tonumber(string.match(m, '|(%d+)$')) end
local found = redis.call(
  'ZRANGEBYSCORE', KEYS[1], '-inf', now + ahead, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local lease = now + tonumber(ARGV[2])
local items, infos = {}, {}
for i = 1, #found, 2 do
  local m, score = found[i], tonumber(found[i + 1])
  if score <= now or score == planned(m) then
    redis.call('ZADD', KEYS[1], 'XX', lease, m)
    items[#items + 1] = m
    infos[#items] = redis.call('HGET', KEYS[2], string.match(m, '^[^|]+')) or false
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wake = false
if nxt[1] then
  wake = tonumber(nxt[2])
  if wake == planned(nxt[1]) then wake = wake - ahead end
end
return {now, lease, items, infos, wake, #found / 2}
"""
)

# KEYS: due.  ARGV: lease ms, members...  Returns how many were acked.
ACK = _ack(lease=1, first=2) + "return acked\n"

# KEYS: due, fire, clients, client.  ARGV: expected rev, client key, JSON
# {timers: [member...], fire: [assignment key...]}.
# A client's erasure (``erasure.py``): its timers, its assignments' fire entries, its
# place in the roll schedule and its state, all at once, if nobody committed for it since
# it was read (-1 otherwise: read again). Returns what it deleted:
# {timers, fire entries, roll entries, assignments, state hashes}.
ERASE = """
local rev = tonumber(redis.call('HGET', KEYS[4], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return -1 end
local c = cjson.decode(ARGV[3])
local timers, fire, assignments = 0, 0, 0
for _, m in ipairs(c.timers) do timers = timers + redis.call('ZREM', KEYS[1], m) end
for _, a in ipairs(c.fire) do fire = fire + redis.call('HDEL', KEYS[2], a) end
for _, f in ipairs(redis.call('HKEYS', KEYS[4])) do
  if string.sub(f, 1, 2) == 'a:' then assignments = assignments + 1 end
end
local rolls = redis.call('ZREM', KEYS[3], ARGV[2])
return {timers, fire, rolls, assignments, redis.call('DEL', KEYS[4])}
"""

# KEYS: due, fire, clients, client.  ARGV: expected rev, client key, JSON {timers,
# fire}, now ms, idle retention ms, next check ms.
# A client with nothing left to plan (``retention.py``): the first time it is seen idle
# its state is marked ``idle_since`` (with its rev: any later commit makes the mark
# stale); once it has stayed idle for the retention it goes, as ``ERASE`` deletes it.
# Returns -1 (changed meanwhile), 0 (kept; checked again at ``next check``), 1 (deleted).
FORGET_IDLE = """
local rev = tonumber(redis.call('HGET', KEYS[4], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return -1 end
local since = nil
local mark = redis.call('HGET', KEYS[4], 'idle_since')
if mark then
  local r, t = string.match(mark, '^(%d+):(%d+)$')
  if tonumber(r) == rev then since = tonumber(t) end
end
if not since or tonumber(ARGV[4]) - since < tonumber(ARGV[5]) then
  if not since then redis.call('HSET', KEYS[4], 'idle_since', rev .. ':' .. ARGV[4]) end
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
  return 0
end
local c = cjson.decode(ARGV[3])
for _, m in ipairs(c.timers) do redis.call('ZREM', KEYS[1], m) end
for _, a in ipairs(c.fire) do redis.call('HDEL', KEYS[2], a) end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[4])
return 1
"""
