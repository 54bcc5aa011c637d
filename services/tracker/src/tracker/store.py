"""The tracker's Redis storage, with bounded retention everywhere.

Assignment, client, reminder and policy ids are opaque refs each EHR tenant chooses, so
two clinics can both send ``a-1``: every key holding such a ref names it with its clinic,
as ``<clinic>/<ref>`` (``scoped``). A ref cannot contain ``/``, so the pair is never
ambiguous, where ``:`` (allowed in refs) would be.

- assignments: one JSON record per assignment (version-guarded), indexed per client;
- completions: a hash per assignment, one field per occurrence day, written with HSETNX
  so each occurrence is recorded once whatever the source;
- delivery: a hash per message (reminder x channel) and per reminder, rank-guarded in
  Lua so out-of-order callbacks cannot move a state backwards; both expire. The two
  share the hash tag ``{<clinic>/<reminder>}``, so the script is valid on Redis Cluster;
- provider message ids: which clinic's reminder each provider message belongs to (the
  provider's own id is global, not a tenant's ref), and the status callbacks that
  arrived before we knew (parked until the send is announced);
- counters: per clinic and hour (and day), one hash whose fields are
  ``channel|provider|outcome`` (and ``reason|...``, ``optout|...``), each bucket expiring;
- streams: recent failures and opt-outs per clinic, capped with XADD MAXLEN ~;
- scheduler backlog: the latest report per replica, expiring when a replica goes quiet.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared.contracts import ClinicPolicy, DeliveryStatus
from shared.service import redis_text
from tracker.adherence import Completion
from tracker.delivery import LEFT_US, RANK, Transition, advance
from tracker.records import AssignmentRecord

DAY = 86_400

# KEYS: message hash, reminder hash. ARGV: status, rank, provider, ttl, channel, left.
# Returns the previous status of the message and of the reminder ('' when new), and
# whether the message had already been seen leaving us (ARGV[6] = '1' sets that flag).
_ADVANCE = """
local prev = redis.call('HGET', KEYS[1], 'status') or ''
local left = redis.call('HGET', KEYS[1], 'left') or '0'
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'left', '1') end
local prank = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
local rank = tonumber(ARGV[2])
if rank > prank then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', rank)
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'provider', ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local rprev = redis.call('HGET', KEYS[2], 'best') or ''
local rrank = tonumber(redis.call('HGET', KEYS[2], 'best_rank') or '-1')
if rank > rrank then
  redis.call('HSET', KEYS[2], 'best', ARGV[1], 'best_rank', rank, 'best_channel', ARGV[5])
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {prev, rprev, left}
"""


# KEYS: message-id map, parked list. ARGV: the status event (JSON), ttl, park ('1'/'0').
# ``<clinic>/<reminder>`` if the message is known; otherwise '' (and the event is parked
# when ARGV[3] is '1').
_RESOLVE_OR_PARK = """
local reminder = redis.call('GET', KEYS[1])
if reminder then return reminder end
if ARGV[3] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return ''
"""

# KEYS: message-id map, parked list. ARGV: <clinic>/<reminder>, ttl. Maps the message and hands
# back what was parked for it. Both scripts are atomic, so a status either finds the
# map or is parked before the map is written, and then handed back here: never lost.
_MAP_AND_UNPARK = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local parked = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return parked
"""
PARKED_DAYS = 2
_LATEST = "_latest"  # never a policy id: refs start with a letter or digit


@dataclass(frozen=True)
class Retention:
    delivery_days: int = 35
    hourly_counter_days: int = 35
    daily_counter_days: int = 400
    assignment_days: int = 400
    stream_max_len: int = 500
    backlog_seconds: int = 60


@dataclass(frozen=True)
class Advanced:
    message: Transition
    reminder: Transition


def hour_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H")


def day_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d")


def _status(raw: bytes | str | None) -> DeliveryStatus | None:
    if not raw:
        return None
    return DeliveryStatus(raw.decode() if isinstance(raw, bytes) else raw)


def scoped(clinic_id: str, ref: str) -> str:
    """A tenant's ref named with its clinic: the form every key and claim uses."""
    return f"{clinic_id}/{ref}"


def unscoped(value: str) -> tuple[str, str] | None:
    """``scoped`` undone; None for a value written before refs were scoped (no ``/``)."""
    clinic_id, slash, ref = value.partition("/")
    return (clinic_id, ref) if slash else None


class TrackerStore:
    def __init__(self, redis: Redis, prefix: str, retention: Retention = Retention()) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention = retention
        self._advance = redis.register_script(_ADVANCE)
        self._resolve_or_park = redis.register_script(_RESOLVE_OR_PARK)
        self._map_and_unpark = redis.register_script(_MAP_AND_UNPARK)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- assignments -------------------------------------------------------------------

    async def update_assignment(
        self,
        clinic_id: str,
        assignment_id: str,
        change: Callable[[AssignmentRecord | None], AssignmentRecord | None],
    ) -> AssignmentRecord | None:
        """Read-modify-write under WATCH; ``change`` returns None to leave it as it is."""
        key = self.key("assignment", scoped(clinic_id, assignment_id))
        member = scoped(clinic_id, assignment_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    current = AssignmentRecord.model_validate_json(raw) if raw else None
                    new = change(current)
                    if new is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return current
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, new.model_dump_json(), ex=self.retention.assignment_days * DAY)
                    index = self.key("client", scoped(clinic_id, new.client_ref))
                    pipe.sadd(index, assignment_id)
                    pipe.expire(index, self.retention.assignment_days * DAY)
                    if new.status == "cancelled":
                        pipe.srem(self.key("active"), member)
                    else:
                        pipe.sadd(self.key("active"), member)
                    await pipe.execute()
                    return new
                except WatchError:
                    continue

    async def assignment(self, clinic_id: str, assignment_id: str) -> AssignmentRecord | None:
        raw = await self.redis.get(self.key("assignment", scoped(clinic_id, assignment_id)))
        return AssignmentRecord.model_validate_json(raw) if raw else None

    async def client_assignments(self, clinic_id: str, client_ref: str) -> list[AssignmentRecord]:
        ids = await self.redis.smembers(self.key("client", scoped(clinic_id, client_ref)))
        records = [await self.assignment(clinic_id, redis_text(i)) for i in sorted(ids)]
        return [r for r in records if r is not None]

    async def active_assignments(self) -> list[tuple[str, str]]:
        """(clinic, assignment) of every assignment not cancelled."""
        found: list[tuple[str, str]] = []
        for raw in sorted(redis_text(i) for i in await self.redis.smembers(self.key("active"))):
            pair = unscoped(raw)
            if pair is None:  # written before ids were scoped by clinic: no longer read
                await self.redis.srem(self.key("active"), raw)
                continue
            found.append(pair)
        return found

    async def forget_active(self, clinic_id: str, assignment_id: str) -> None:
        await self.redis.srem(self.key("active"), scoped(clinic_id, assignment_id))

    # -- completions -------------------------------------------------------------------

    def _completions_key(self, clinic_id: str, assignment_id: str) -> str:
        return self.key("completions", scoped(clinic_id, assignment_id))

    async def record_completion(
        self, clinic_id: str, assignment_id: str, day: date, data: Mapping[str, Any]
    ) -> bool:
        """True if this occurrence had no completion yet (and now has this one)."""
        key = self._completions_key(clinic_id, assignment_id)
        added = bool(await self.redis.hsetnx(key, day.isoformat(), json.dumps(data)))
        await self.redis.expire(key, self.retention.assignment_days * DAY)
        return added

    async def unrecord_completion(self, clinic_id: str, assignment_id: str, day: date) -> None:
        """Undo a completion whose announcement could not be published (it will be retried)."""
        await self.redis.hdel(self._completions_key(clinic_id, assignment_id), day.isoformat())

    async def is_completed(self, clinic_id: str, assignment_id: str, day: date) -> bool:
        key = self._completions_key(clinic_id, assignment_id)
        return bool(await self.redis.hexists(key, day.isoformat()))

    async def completions(self, clinic_id: str, assignment_id: str) -> dict[date, Completion]:
        raw = await self.redis.hgetall(self._completions_key(clinic_id, assignment_id))
        result: dict[date, Completion] = {}
        for field, value in raw.items():
            day = date.fromisoformat(redis_text(field))
            data = json.loads(value)
            result[day] = Completion(day, data.get("rating"), data.get("note"))
        return result

    # -- delivery state ----------------------------------------------------------------

    def _reminder_tag(self, clinic_id: str, reminder_id: str) -> str:
        return "{" + scoped(clinic_id, reminder_id) + "}"

    async def remember_reminder(
        self, clinic_id: str, reminder_id: str, meta: Mapping[str, str]
    ) -> None:
        key = self.key("reminder", self._reminder_tag(clinic_id, reminder_id))
        await self.redis.hset(key, mapping=cast(Any, dict(meta)))
        await self.redis.expire(key, self.retention.delivery_days * DAY)

    async def remember_reminder_once(
        self, clinic_id: str, reminder_id: str, field: str, value: str
    ) -> None:
        """Set ``field`` unless the reminder already has it (the first word stands)."""
        key = self.key("reminder", self._reminder_tag(clinic_id, reminder_id))
        await self.redis.hsetnx(key, field, value)
        await self.redis.expire(key, self.retention.delivery_days * DAY)

    async def reminder(self, clinic_id: str, reminder_id: str) -> dict[str, str]:
        key = self.key("reminder", self._reminder_tag(clinic_id, reminder_id))
        raw = await self.redis.hgetall(key)
        return {redis_text(k): redis_text(v) for k, v in raw.items()}

    async def advance(
        self,
        clinic_id: str,
        reminder_id: str,
        channel: str,
        status: DeliveryStatus,
        provider: str | None,
    ) -> Advanced:
        tag = self._reminder_tag(clinic_id, reminder_id)
        keys = [self.key("message", tag, channel), self.key("reminder", tag)]
        args = [status.value, RANK[status], provider or "", self.retention.delivery_days * DAY]
        leaves = "1" if status in LEFT_US else "0"
        prev, rprev, left = await self._advance(keys=keys, args=[*args, channel, leaves])
        return Advanced(
            message=advance(_status(prev), status, left_before=redis_text(left) == "1"),
            reminder=advance(_status(rprev), status),
        )

    def _message_keys(self, provider: str, message_id: str) -> list[str]:
        tag = "{" + f"{provider}:{message_id}" + "}"
        return [self.key("provider-msg", tag), self.key("parked", tag)]

    async def resolve_or_park(
        self, provider: str, message_id: str, event_json: str, *, park: bool = True
    ) -> tuple[str, str] | None:
        """(clinic, reminder) a provider message belongs to; None if not known yet, in
        which case the status event is kept (``park``) until ``map_message`` hands it back."""
        keys = self._message_keys(provider, message_id)
        args: list[str | int] = [event_json, PARKED_DAYS * DAY, "1" if park else "0"]
        found = redis_text(await self._resolve_or_park(keys=keys, args=args))
        return unscoped(found) if found else None

    async def map_message(
        self, provider: str, message_id: str, clinic_id: str, reminder_id: str
    ) -> list[str]:
        """Record whose reminder a provider message is; returns the parked status events."""
        keys = self._message_keys(provider, message_id)
        ttl = self.retention.delivery_days * DAY
        parked = await self._map_and_unpark(keys=keys, args=[scoped(clinic_id, reminder_id), ttl])
        return [redis_text(raw) for raw in parked]

    async def message_provider(self, clinic_id: str, reminder_id: str, channel: str) -> str | None:
        key = self.key("message", self._reminder_tag(clinic_id, reminder_id), channel)
        raw = await self.redis.hget(key, "provider")
        return redis_text(raw) if raw else None

    async def claim_once(self, *parts: str, days: int | None = None) -> bool:
        """True the first time these parts are claimed (within the retention window).
        Callers name tenant refs with ``scoped``: a claim is one clinic's, never shared."""
        ttl = (days or self.retention.delivery_days) * DAY
        return bool(await self.redis.set(self.key("once", *parts), "1", nx=True, ex=ttl))

    async def release(self, *parts: str) -> None:
        await self.redis.delete(self.key("once", *parts))

    # -- counters and streams ----------------------------------------------------------

    async def count(self, clinic_id: str, at: datetime, fields: Mapping[str, int]) -> None:
        if not fields:
            return
        hourly = self.key("counts", "h", clinic_id, hour_bucket(at))
        daily = self.key("counts", "d", clinic_id, day_bucket(at))
        async with self.redis.pipeline(transaction=False) as pipe:
            for field, n in fields.items():
                pipe.hincrby(hourly, field, n)
                pipe.hincrby(daily, field, n)
            pipe.expire(hourly, self.retention.hourly_counter_days * DAY)
            pipe.expire(daily, self.retention.daily_counter_days * DAY)
            pipe.sadd(self.key("clinics"), clinic_id)
            await pipe.execute()

    async def hourly_counts(self, clinic_id: str, hours: list[datetime]) -> list[dict[str, int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(self.key("counts", "h", clinic_id, hour_bucket(hour)))
            rows = await pipe.execute()
        return [{redis_text(k): int(v) for k, v in row.items()} for row in rows]

    async def clinics(self) -> list[str]:
        return sorted(redis_text(c) for c in await self.redis.smembers(self.key("clinics")))

    async def append(self, stream: str, clinic_id: str, fields: Mapping[str, str]) -> None:
        await self.redis.xadd(
            self.key("stream", stream, clinic_id),
            dict(fields),  # type: ignore[arg-type]
            maxlen=self.retention.stream_max_len,
            approximate=True,
        )
        await self.redis.sadd(self.key("clinics"), clinic_id)

    async def latest(self, stream: str, clinic_id: str, count: int) -> list[dict[str, str]]:
        key = self.key("stream", stream, clinic_id)
        rows = cast(list[tuple[Any, dict[Any, Any]]], await self.redis.xrevrange(key, count=count))
        return [{redis_text(k): redis_text(v) for k, v in fields.items()} for _, fields in rows]

    # -- scheduler backlog -------------------------------------------------------------

    async def put_backlog(self, replica: str, report: Mapping[str, Any]) -> None:
        await self.redis.set(
            self.key("backlog", replica), json.dumps(report), ex=self.retention.backlog_seconds
        )

    async def backlogs(self) -> list[dict[str, Any]]:
        keys = [k async for k in self.redis.scan_iter(match=self.key("backlog", "*"), count=500)]
        values = await self.redis.mget(keys) if keys else []
        reports = [cast(dict[str, Any], json.loads(v)) for v in values if v]
        return sorted(reports, key=lambda r: str(r.get("replica")))

    # -- policies ----------------------------------------------------------------------

    async def put_policy(self, clinic_id: str, policy: ClinicPolicy) -> bool:
        """Keep the newest version of a policy (by policy_id); also the clinic's latest."""
        applied = False
        for key in (
            self.key("policy", scoped(clinic_id, policy.policy_id)),
            self.key("policy", scoped(clinic_id, _LATEST)),
        ):
            applied = await self._put_if_newer(key, policy) or applied
        return applied

    async def _put_if_newer(self, key: str, policy: ClinicPolicy) -> bool:
        async def change(raw: Any) -> bool:
            return raw is None or ClinicPolicy.model_validate_json(raw).version < policy.version

        return await self._guarded_set(key, policy.model_dump_json(), change)

    async def _guarded_set(
        self, key: str, value: str, should: Callable[[Any], Awaitable[bool]]
    ) -> bool:
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    if not await should(await pipe.get(key)):
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, value)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    async def policy(self, clinic_id: str, policy_id: str | None) -> ClinicPolicy | None:
        for pid in (policy_id, _LATEST):
            if pid is None:
                continue
            raw = await self.redis.get(self.key("policy", scoped(clinic_id, pid)))
            raw = raw or await self._legacy_policy(clinic_id, pid)
            if raw:
                return ClinicPolicy.model_validate_json(raw)
        return None

    async def _legacy_policy(self, clinic_id: str, policy_id: str) -> Any:
        """A policy stored before keys were scoped (``policy:<clinic>:<id>``, no TTL, so
        it would never go away): read until the clinic's next policy change replaces it.
        Only when neither id holds a ``:``, the one case in which that key is surely this
        clinic's and not another's whose ids happen to join to the same string."""
        if ":" in clinic_id or ":" in policy_id:
            return None
        return await self.redis.get(self.key("policy", clinic_id, policy_id))


def hours_back(now: datetime, hours: int) -> list[datetime]:
    """The start of each of the last ``hours`` hours, oldest first (the current one last)."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=i) for i in reversed(range(hours))]
