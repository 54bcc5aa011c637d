"""The tracker's one Redis adapter: loads what a decision needs, commits it once.

The key layout is in ``keys.py``, the commit scripts in ``lua.py``. Retention is bounded
everywhere: per-reminder state and claims expire after the delivery retention,
assignments and completions after the assignment retention (from their last write),
counters per bucket, streams are capped; only the small indexes (``active``,
``clinics``, policies) have no TTL.

A load is one round trip (a pipeline), a commit one script; a commit that two replicas
could race carries what the decision was made on (the reminder's ``rev``, the record's
bytes) and is refused when that changed, so the caller loads and decides again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.commands.core import AsyncScript as Script
from redis.exceptions import NoScriptError

from shared import redis_batch
from shared.contracts import ClinicPolicy
from shared.service import RedisClient, redis_text
from tracker import encoding, lua
from tracker.adherence import Completion
from tracker.decide.delivery import Change, Fact, Loaded
from tracker.decide.timeline import PlanChange
from tracker.keys import LATEST, Keys, scoped, unscoped
from tracker.records import AssignmentRecord

CALLBACK_WINDOW_DAYS = 3
DAY = 86_400
HISTORY_KEPT = 50  # versions of a policy whose who/when/what the console shows
# A write that rides along with a commit in the same round trip; it must be idempotent,
# since a refused commit is sent again with it.
AnyPipeline = Pipeline | ClusterPipeline  # a single Redis's or a cluster's
SideWrite = Callable[[AnyPipeline], None]


@dataclass(frozen=True)
class Retention:
    delivery_days: int = 35  # the timeline, once-claims
    # A reminder's own hash (its messages, outcome, claims): callbacks come within days;
    # what the console shows of older reminders is their timeline entries.
    delivery_detail_days: int = 14
    hourly_counter_days: int = 35
    daily_counter_days: int = 400
    assignment_days: int = 400
    stream_max_len: int = 500
    backlog_seconds: int = 60
    timeline_max_len: int = 1000  # entries per client (and no older than delivery_days)

    def timeline_min_id(self, now: datetime) -> str:
        """The oldest stream id a client's timeline keeps (the delivery retention)."""
        oldest = now - timedelta(days=self.delivery_days)
        return f"{max(int(oldest.timestamp() * 1000), 0)}-0"


@dataclass(frozen=True)
class ClientView:
    """A client's assignments with their completions, as one summary needs them."""

    records: list[AssignmentRecord]
    completions: dict[str, dict[date, Completion]]  # by assignment id


class TrackerStore:
    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        retention: Retention = Retention(),
        *,
        spread: bool = False,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix, spread)
        self.retention = retention
        self._delivery = redis.register_script(lua.DELIVERY_COMMIT)
        self._assignment = redis.register_script(lua.ASSIGNMENT_COMMIT)
        self._policy = redis.register_script(lua.POLICY_PUT)
        self._completion = redis.register_script(lua.COMPLETION_COMMIT)
        self._completion_release = redis.register_script(lua.COMPLETION_RELEASE)
        self._policy_claim = redis.register_script(lua.POLICY_CLAIM)
        self._policy_release = redis.register_script(lua.POLICY_RELEASE)
        self._policy_history = redis.register_script(lua.POLICY_HISTORY_ADD)
        self._plan = redis.register_script(lua.PLAN_COMMIT)
        # Clinics this process has put in ``clinics`` (a set only ever added to).
        self._clinics_known: set[str] = set()

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    def key(self, *parts: str) -> str:
        return self.keys.key(*parts)

    # -- delivery ---------------------------------------------------------------------

    async def load_delivery(self, clinic_id: str, reminder_id: str, channel: str) -> Loaded:
        """The reminder, its message on ``channel`` and the outcomes the previous layout
        claimed: one round trip. A reminder only the previous layout holds is read from
        there, and carried into the new hash by the commit."""
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.reminder(clinic_id, reminder_id))
            pipe.hgetall(k.legacy_reminder(clinic_id, reminder_id))
            pipe.hgetall(k.legacy_message(clinic_id, reminder_id, channel))
            for kind in ("delivered", "failed"):
                pipe.exists(k.legacy_outcome(clinic_id, reminder_id, kind))
            replies = await redis_batch.execute(self.redis, pipe)
            stored, old, old_message, delivered, failed = replies
        before = {kind for kind, n in (("delivered", delivered), ("failed", failed)) if n}
        if stored or not (old or old_message):
            reminder, messages = encoding.decode_reminder(_texts(stored))
            return Loaded(reminder, messages.get(channel, {}), frozenset(before))
        reminder = {k: v for k, v in _texts(old).items() if k != "rev"}  # the new hash's is 0
        message = _texts(old_message)
        carry = encoding.reminder_fields(reminder) | encoding.message_fields(channel, message)
        return Loaded(reminder, message, frozenset(before), carry)

    async def commit_delivery(
        self,
        fact: Fact,
        change: Change,
        rev: int,
        now: datetime,
        also: Sequence[SideWrite] = (),
        *,
        carry: Mapping[str, str] | None = None,
    ) -> tuple[bool, Exception | None]:
        """One round trip: the change if ``rev`` still holds, with the side writes (and
        ``carry``: what the previous layout held, as ``Loaded.carry``). False
        if another commit came first (nothing of the change was written); with the error
        of a side write that failed (the commit stands either way)."""
        k, r = self.keys, self.retention
        hourly, daily = k.counts(fact.clinic_id, now)
        keys = [
            k.reminder(fact.clinic_id, fact.reminder_id),
            hourly,
            daily,
            k.stream("failures", fact.clinic_id),
        ]
        if change.timeline_client is not None:
            keys.append(k.timeline(fact.clinic_id, change.timeline_client))
        fields = {
            **(carry or {}),
            **encoding.reminder_fields(change.reminder),
            **encoding.message_fields(fact.channel, change.message),
        }
        body = {
            "reminder": list(fields.items()),
            "counts": list(change.counts.items()),
            "failure": [x for pair in (change.failure or {}).items() for x in pair],
            "claim": encoding.reminder_field(change.claim) if change.claim else "",
            "timeline": [_flat(encoding.encode_entry(e)) for e in change.timeline],
        }
        ttls = [r.hourly_counter_days * DAY, r.daily_counter_days * DAY]
        args: list[Any] = [rev, r.delivery_detail_days * DAY, *ttls, r.stream_max_len]
        args += [json.dumps(body), r.timeline_max_len, r.timeline_min_id(now)]
        args.append(r.delivery_days * DAY)
        also = [*also, *self._note_clinic(fact.clinic_id)]
        result, error = await self._pipelined(self._delivery, keys, args, also)
        if error is None:
            self._clinics_known.add(fact.clinic_id)
        return int(result) >= 0, error

    async def release_outcome(self, clinic_id: str, reminder_id: str, claim: str) -> None:
        """Undo an announcement's claim whose publish failed: the retry announces."""
        key = self.keys.reminder(clinic_id, reminder_id)
        await self.redis.hdel(key, encoding.reminder_field(claim))

    def _note_clinic(self, clinic_id: str) -> list[SideWrite]:
        """The clinic into ``clinics`` (the dashboard's, the summaries' and on a cluster the
        ``active`` sets' list) beside a commit, until this process has once written it."""
        if clinic_id in self._clinics_known:
            return []
        key = self.keys.clinics

        def write(pipe: AnyPipeline) -> None:
            pipe.sadd(key, clinic_id)

        return [write]

    def map_message(
        self, provider: str, message_id: str, clinic_id: str, reminder_id: str
    ) -> SideWrite:
        """Whose reminder a provider message is, for callbacks that do not say."""
        key = self.keys.provider_message(provider, message_id)
        # Only an old-form callback (no reminder in its URL) reads it, and providers call
        # back within hours (Twilio: at most 72): days, not the delivery retention.
        ttl = min(self.retention.delivery_days, CALLBACK_WINDOW_DAYS) * DAY

        def write(pipe: AnyPipeline) -> None:
            pipe.set(key, scoped(clinic_id, reminder_id), ex=ttl)

        return write

    async def reminder_of(self, provider: str, message_id: str) -> tuple[str, str] | None:
        raw = await self.redis.get(self.keys.provider_message(provider, message_id))
        return unscoped(redis_text(raw)) if raw else None

    async def reminder(self, clinic_id: str, reminder_id: str) -> dict[str, str]:
        return (await self.reminder_console(clinic_id, reminder_id, ()))[0]

    async def _pipelined(
        self, script: Script, keys: list[str], args: list[Any], also: Sequence[SideWrite]
    ) -> tuple[Any, Exception | None]:
        """The script in a pipeline with the side writes (``_script_call``; not through
        ``Script.__call__``, whose pipeline path asks SCRIPT EXISTS first: a round trip
        on every commit).
        The script's result, and the first side write's error if one failed."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                _script_call(pipe, script, keys, args)
                for write in also:
                    write(pipe)
                # With the other handlers' round trips of this loop turn (``redis_batch``).
                replies = await redis_batch.execute(self.redis, pipe, raise_on_error=False)
                result, *others = replies
            if not isinstance(result, NoScriptError):
                if isinstance(result, Exception):
                    raise result
                return result, next((e for e in others if isinstance(e, Exception)), None)
            if attempt == 1:  # Redis restarted and forgot its scripts: nothing of it ran
                await self._load_scripts()
        raise NoScriptError("script missing after loading it")

    async def _load_scripts(self) -> None:
        for script in (self._delivery, self._assignment, self._policy, self._completion):
            await self.redis.script_load(script.script)

    # -- counters and streams ---------------------------------------------------------

    async def count(
        self,
        clinic_id: str,
        at: datetime,
        fields: Mapping[str, int],
        entries: Sequence[tuple[str, Mapping[str, str]]] = (),
        also: Sequence[SideWrite] = (),
    ) -> None:
        """Add to the clinic's counters and append stream ``entries`` (and ``also``): one
        round trip."""
        hourly, daily = self.keys.counts(clinic_id, at)
        r = self.retention
        async with self.redis.pipeline(transaction=False) as pipe:
            for field, n in fields.items():
                pipe.hincrby(hourly, field, n)
                pipe.hincrby(daily, field, n)
            if fields:
                pipe.expire(hourly, r.hourly_counter_days * DAY)
                pipe.expire(daily, r.daily_counter_days * DAY)
            for stream, entry in entries:
                pipe.xadd(
                    self.keys.stream(stream, clinic_id),
                    dict(entry),  # type: ignore[arg-type]
                    maxlen=r.stream_max_len,
                    approximate=True,
                )
            pipe.sadd(self.keys.clinics, clinic_id)
            for write in also:
                write(pipe)
            await pipe.execute()

    async def hourly_counts(self, clinic_id: str, hours: list[datetime]) -> list[dict[str, int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(self.keys.hourly(clinic_id, hour))
            rows = await pipe.execute()
        return [{redis_text(k): int(v) for k, v in row.items()} for row in rows]

    async def clinics(self) -> list[str]:
        return sorted(redis_text(c) for c in await self.redis.smembers(self.keys.clinics))

    async def latest(self, stream: str, clinic_id: str, count: int) -> list[dict[str, str]]:
        key = self.keys.stream(stream, clinic_id)
        rows = cast(list[tuple[Any, dict[Any, Any]]], await self.redis.xrevrange(key, count=count))
        return [_texts(fields) for _, fields in rows]

    # -- once-only claims ---------------------------------------------------------------

    async def claim_once(self, *parts: str, days: int | None = None) -> bool:
        """True the first time these parts are claimed (within the retention window).
        Callers name tenant refs with ``scoped``: a claim is one clinic's, never shared."""
        ttl = (days or self.retention.delivery_days) * DAY
        return bool(await self.redis.set(self.keys.once(*parts), "1", nx=True, ex=ttl))

    async def release(self, *parts: str) -> None:
        await self.redis.delete(self.keys.once(*parts))

    # -- completions --------------------------------------------------------------------

    async def commit_completion(
        self,
        clinic_id: str,
        assignment_id: str,
        day: date,
        data: Mapping[str, Any],
        encourage: bool,
        *,
        client_ref: str,
        entry: Mapping[str, str],
        now: datetime,
    ) -> tuple[bool, bool, bool]:
        """Record the occurrence once (``entry`` on the client's timeline) and claim its
        announcements: (added, completion claimed, encouragement claimed), in one round
        trip."""
        scope, iso = scoped(clinic_id, assignment_id), day.isoformat()
        k = self.keys
        keys = [k.completions(clinic_id, assignment_id), k.once(*_done(scope, iso))]
        keys.append(k.timeline(clinic_id, client_ref))
        if encourage:
            keys.append(k.once(*_encouraged(scope, iso)))
        r = self.retention
        args: list[str | int] = [
            iso,
            encoding.encode_completion(data),
            r.assignment_days * DAY,
            r.delivery_days * DAY,
            json.dumps(_flat(encoding.encode_entry(entry))),
            r.timeline_max_len,
            r.timeline_min_id(now),
        ]
        added, claimed, encouraged = await self._completion(keys=keys, args=args)
        return bool(added), bool(claimed), bool(encouraged)

    async def release_completion(self, clinic_id: str, assignment_id: str, day: date) -> None:
        iso = day.isoformat()
        keys = [self.keys.completions(clinic_id, assignment_id)]
        keys.append(self.keys.once(*_done(scoped(clinic_id, assignment_id), iso)))
        await self._completion_release(keys=keys, args=[iso])

    async def release_encouragement(self, clinic_id: str, assignment_id: str, day: date) -> None:
        await self.release(*_encouraged(scoped(clinic_id, assignment_id), day.isoformat()))

    async def record_completion(
        self, clinic_id: str, assignment_id: str, day: date, data: Mapping[str, Any]
    ) -> bool:
        """True if this occurrence had no completion yet (and now has this one)."""
        key = self.keys.completions(clinic_id, assignment_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hsetnx(key, day.isoformat(), encoding.encode_completion(data))
            pipe.expire(key, self.retention.assignment_days * DAY)
            added, _ = await pipe.execute()
        return bool(added)

    async def is_completed(self, clinic_id: str, assignment_id: str, day: date) -> bool:
        key = self.keys.completions(clinic_id, assignment_id)
        return bool(await self.redis.hexists(key, day.isoformat()))

    async def completions(self, clinic_id: str, assignment_id: str) -> dict[date, Completion]:
        return _completions(
            await self.redis.hgetall(self.keys.completions(clinic_id, assignment_id))
        )

    # -- assignments --------------------------------------------------------------------

    async def load_assignment(
        self, clinic_id: str, assignment_id: str
    ) -> tuple[str, AssignmentRecord | None]:
        """The record's bytes as stored ('' if none; the commit compares them) and the record."""
        raw = await self.redis.get(self.keys.assignment(clinic_id, assignment_id))
        text = redis_text(raw) if raw else ""
        return text, AssignmentRecord.model_validate_json(text) if text else None

    async def commit_assignment(
        self, loaded: str, record: AssignmentRecord, now: datetime | None = None
    ) -> bool:
        """Write ``record`` (and its indexes) unless it changed since it was ``loaded``."""
        k = self.keys
        clinic_id, assignment_id = record.clinic_id, record.assignment_id
        keys = [k.assignment(clinic_id, assignment_id), k.client(clinic_id, record.client_ref)]
        keys += [k.active(clinic_id), k.clinic_clients(clinic_id)]
        ttl = self.retention.assignment_days * DAY
        args: list[str | int] = [loaded, record.model_dump_json(), ttl, assignment_id]
        args += [scoped(clinic_id, assignment_id), "1" if record.status == "cancelled" else "0"]
        args += [record.client_ref, int((now or datetime.now(UTC)).timestamp())]
        result, error = await self._pipelined(
            self._assignment, keys, args, self._note_clinic(clinic_id)
        )
        if error is None:
            self._clinics_known.add(clinic_id)
        return bool(result)

    async def assignment(self, clinic_id: str, assignment_id: str) -> AssignmentRecord | None:
        return (await self.load_assignment(clinic_id, assignment_id))[1]

    async def client_assignments(self, clinic_id: str, client_ref: str) -> list[AssignmentRecord]:
        return (await self.client_view(clinic_id, client_ref, with_completions=False)).records

    async def client_view(
        self, clinic_id: str, client_ref: str, *, with_completions: bool = True
    ) -> ClientView:
        """A client's records and completions: two round trips (the index, then the rest)."""
        ids = sorted(
            redis_text(i)
            for i in await self.redis.smembers(self.keys.client(clinic_id, client_ref))
        )
        if not ids:
            return ClientView([], {})
        async with self.redis.pipeline(transaction=False) as pipe:
            for assignment_id in ids:
                pipe.get(self.keys.assignment(clinic_id, assignment_id))
                if with_completions:
                    pipe.hgetall(self.keys.completions(clinic_id, assignment_id))
            rows = await pipe.execute()
        step = 2 if with_completions else 1
        records, done = [], {}
        for i, assignment_id in enumerate(ids):
            raw = rows[i * step]
            if raw:
                records.append(AssignmentRecord.model_validate_json(raw))
                done[assignment_id] = _completions(rows[i * step + 1]) if with_completions else {}
        return ClientView(records, done)

    async def assignment_view(
        self, clinic_id: str, assignment_id: str
    ) -> tuple[AssignmentRecord | None, dict[date, Completion]]:
        """A record and its completions: one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.assignment(clinic_id, assignment_id))
            pipe.hgetall(self.keys.completions(clinic_id, assignment_id))
            raw, done = await pipe.execute()
        record = AssignmentRecord.model_validate_json(raw) if raw else None
        return record, _completions(done)

    async def active_assignments(self) -> list[tuple[str, str]]:
        """(clinic, assignment) of every assignment not cancelled."""
        sets = self.keys.active_sets(await self.clinics() if self.keys.spread else [])
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in sets:
                pipe.smembers(key)
            members = await pipe.execute()
        found: list[tuple[str, str]] = []
        for key, raws in zip(sets, members, strict=True):
            for raw in sorted(redis_text(i) for i in raws):
                pair = unscoped(raw)
                if pair is None:  # written before ids were scoped by clinic: no longer read
                    await self.redis.srem(key, raw)
                    continue
                found.append(pair)
        return sorted(found)

    async def forget_active(self, clinic_id: str, assignment_id: str) -> None:
        await self.redis.srem(self.keys.active(clinic_id), scoped(clinic_id, assignment_id))

    # -- policies -----------------------------------------------------------------------

    async def put_policy(self, clinic_id: str, policy: ClinicPolicy) -> bool:
        """Keep the newest version of a policy (by policy_id); also the clinic's latest.
        Two single-key scripts in one round trip."""
        raw = policy.model_dump_json()
        keys = [self.keys.policy(clinic_id, policy.policy_id), self.keys.policy(clinic_id, LATEST)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                _script_call(pipe, self._policy, [key], [raw, policy.version])
            pipe.sadd(self.keys.policies(clinic_id), policy.policy_id)  # the console's list
            *results, _ = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):  # idempotent: run again
            return any([await self._policy(keys=[key], args=[raw, policy.version]) for key in keys])
        _raise_first(results)
        return any(results)

    async def policy(self, clinic_id: str, policy_id: str | None) -> ClinicPolicy | None:
        for pid in (policy_id, LATEST):
            if pid is None:
                continue
            raw = await self.redis.get(self.keys.policy(clinic_id, pid))
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
        return await self.redis.get(self.keys.legacy_policy(clinic_id, policy_id))

    # -- the console: a client's timeline and latest plan -----------------------------

    def timeline_write(
        self, clinic_id: str, client_ref: str, entries: Sequence[Mapping[str, str]], now: datetime
    ) -> SideWrite:
        """Entries for the client's timeline, sent with another round trip. Not idempotent:
        only beside writes that are never sent again (the counters of a retried attempt)."""
        key, r = self.keys.timeline(clinic_id, client_ref), self.retention

        def write(pipe: AnyPipeline) -> None:
            for entry in entries:
                fields: dict[Any, Any] = encoding.encode_entry(entry)
                pipe.xadd(key, fields, maxlen=r.timeline_max_len, approximate=True)
            pipe.xtrim(key, minid=r.timeline_min_id(now), approximate=True)
            pipe.expire(key, r.delivery_days * DAY)

        return write

    async def add_to_timeline(
        self, clinic_id: str, client_ref: str, entries: Sequence[Mapping[str, str]], now: datetime
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            self.timeline_write(clinic_id, client_ref, entries, now)(pipe)
            await pipe.execute()

    async def load_plan(self, clinic_id: str, client_ref: str) -> dict[str, str]:
        """The client's plan hash: ``at``, ``plan`` and the decisions already recorded."""
        return _texts(await self.redis.hgetall(self.keys.plan(clinic_id, client_ref)))

    async def commit_plan(
        self, clinic_id: str, client_ref: str, change: PlanChange, now: datetime
    ) -> bool:
        """Keep the plan unless a newer one is kept; its decisions on the timeline."""
        k, r = self.keys, self.retention
        keys = [k.plan(clinic_id, client_ref), k.timeline(clinic_id, client_ref)]
        body = {
            "seen": [x for pair in change.seen.items() for x in pair],
            "forget": change.forget,
            "timeline": [_flat(encoding.encode_entry(e)) for e in change.entries],
        }
        ttl = r.delivery_days * DAY
        args: list[str | int] = [change.at, change.plan, ttl, r.timeline_max_len]
        args += [r.timeline_min_id(now), json.dumps(body)]
        return bool(await self._plan(keys=keys, args=args))

    async def plan_and_timeline(
        self, clinic_id: str, client_ref: str, count: int
    ) -> tuple[str | None, list[tuple[str, dict[str, str]]]]:
        """The client's latest plan (JSON) and newest ``count`` timeline entries: one
        round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.plan(clinic_id, client_ref), "plan")
            pipe.xrevrange(self.keys.timeline(clinic_id, client_ref), count=count)
            plan, entries = await pipe.execute()
        return redis_text(plan) if plan else None, _entries(entries)

    async def reminder_console(
        self, clinic_id: str, reminder_id: str, channels: Sequence[str]
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """A reminder's fields and its message on each channel: one round trip (the
        previous layout's hashes when the new one holds nothing)."""
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.reminder(clinic_id, reminder_id))
            pipe.hgetall(k.legacy_reminder(clinic_id, reminder_id))
            for channel in channels:
                pipe.hgetall(k.legacy_message(clinic_id, reminder_id, channel))
            stored, old, *old_messages = await pipe.execute()
        if stored or not (old or any(old_messages)):
            reminder, found = encoding.decode_reminder(_texts(stored))
            return reminder, {c: found.get(c, {}) for c in channels}
        messages = {c: _texts(m) for c, m in zip(channels, old_messages, strict=True)}
        return _texts(old), messages

    # -- the policy console: versions, history, the clinic's policies -------------------

    async def stored_policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None:
        """This policy id's newest version (``policy`` falls back to the clinic's latest)."""
        raw = await self.redis.get(self.keys.policy(clinic_id, policy_id))
        raw = raw or await self._legacy_policy(clinic_id, policy_id)
        return ClinicPolicy.model_validate_json(raw) if raw else None

    async def policy_ids(self, clinic_id: str) -> list[str]:
        """The clinic's policy ids; for a clinic whose policies came before this index,
        found once by their keys (a scan) and indexed."""
        index = self.keys.policies(clinic_id)
        ids = {redis_text(i) for i in await self.redis.smembers(index)}
        if not ids:
            head = self.keys.policy(clinic_id, "")
            async for key in self.redis.scan_iter(match=head + "*", count=1000):
                ids.add(redis_text(key).removeprefix(head))
            ids.discard(LATEST)
            if ids:
                await self.redis.sadd(index, *ids)
        return sorted(ids)

    async def claim_policy_version(
        self, clinic_id: str, policy_id: str, base: int, entry: Mapping[str, Any], stored: int
    ) -> tuple[bool, int]:
        """Take version ``base + 1`` with its history entry if ``base`` is still the
        latest: (True, the version), or (False, the latest version someone else saved).
        ``stored``: the version this policy has in the previous key layout (or 0)."""
        k = self.keys
        keys = [
            k.policy(clinic_id, policy_id),
            k.policy_claim(clinic_id, policy_id),
            k.policy_history(clinic_id, policy_id),
        ]
        args: list[str | int] = [base, json.dumps(entry), HISTORY_KEPT, stored]
        taken, version = await self._policy_claim(keys=keys, args=args)
        return bool(taken), int(version)

    async def release_policy_version(self, clinic_id: str, policy_id: str, version: int) -> None:
        k = self.keys
        keys = [k.policy_claim(clinic_id, policy_id), k.policy_history(clinic_id, policy_id)]
        await self._policy_release(keys=keys, args=[version])

    async def add_policy_history(
        self, clinic_id: str, policy_id: str, entry: Mapping[str, Any]
    ) -> bool:
        """A version's entry, unless it has one (a console save's own)."""
        key = self.keys.policy_history(clinic_id, policy_id)
        args: list[str | int] = [int(entry["version"]), json.dumps(entry), HISTORY_KEPT]
        return bool(await self._policy_history(keys=[key], args=args))

    async def policy_history(self, clinic_id: str, policy_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        raw = await self.redis.hgetall(self.keys.policy_history(clinic_id, policy_id))
        entries = [cast(dict[str, Any], json.loads(v)) for v in raw.values()]
        return sorted(entries, key=lambda e: int(e["version"]), reverse=True)

    async def claimed_version(self, clinic_id: str, policy_id: str) -> int:
        raw = await self.redis.get(self.keys.policy_claim(clinic_id, policy_id))
        return int(raw) if raw else 0

    # -- adherence: the clinic's clients ----------------------------------------------

    async def clinic_clients(self, clinic_id: str, now: datetime) -> list[str]:
        """Clients with an assignment written within the assignment retention."""
        oldest = now.timestamp() - self.retention.assignment_days * DAY
        key = self.keys.clinic_clients(clinic_id)
        refs = await self.redis.zrangebyscore(key, oldest, "+inf")
        return sorted(redis_text(r) for r in refs)

    async def client_views(self, clinic_id: str, clients: Sequence[str]) -> dict[str, ClientView]:
        """Several clients' records and completions: two round trips in all."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for client in clients:
                pipe.smembers(self.keys.client(clinic_id, client))
            indexes = await pipe.execute()
        ids = {
            client: sorted(redis_text(i) for i in found)
            for client, found in zip(clients, indexes, strict=True)
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            for client in clients:
                for assignment_id in ids[client]:
                    pipe.get(self.keys.assignment(clinic_id, assignment_id))
                    pipe.hgetall(self.keys.completions(clinic_id, assignment_id))
            rows = iter(await pipe.execute())
        views: dict[str, ClientView] = {}
        for client in clients:
            view = views[client] = ClientView([], {})
            for assignment_id in ids[client]:
                raw, done = next(rows), next(rows)
                if raw:
                    view.records.append(AssignmentRecord.model_validate_json(raw))
                    view.completions[assignment_id] = _completions(done)
        return views

    # -- scheduler backlog --------------------------------------------------------------

    async def put_backlog(self, replica: str, report: Mapping[str, Any]) -> None:
        await self.redis.set(
            self.keys.backlog(replica), json.dumps(report), ex=self.retention.backlog_seconds
        )

    async def backlogs(self) -> list[dict[str, Any]]:
        match = self.keys.backlog("*")
        keys = [k async for k in self.redis.scan_iter(match=match, count=500)]
        values = await self.redis.mget(keys) if keys else []
        reports = [cast(dict[str, Any], json.loads(v)) for v in values if v]
        return sorted(reports, key=lambda r: str(r.get("replica")))


def _script_call(pipe: AnyPipeline, script: Script, keys: list[str], args: list[Any]) -> None:
    """A script in a pipeline: by its sha on a single Redis; by its text on a cluster,
    whose client refuses EVALSHA in a pipeline (a script's keys are one clinic's, one
    slot; the side writes beside it may go to other nodes, concurrently)."""
    if isinstance(pipe, ClusterPipeline):
        pipe.eval(cast(str, script.script), len(keys), *keys, *args)
    else:
        pipe.evalsha(script.sha, len(keys), *keys, *args)


def hours_back(now: datetime, hours: int) -> list[datetime]:
    """The start of each of the last ``hours`` hours, oldest first (the current one last)."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=i) for i in reversed(range(hours))]


def _done(scope: str, day: str) -> tuple[str, str, str]:
    return ("completion", scope, day)


def _encouraged(scope: str, day: str) -> tuple[str, str, str]:
    return ("encouragement", scope, day)


def _texts(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {redis_text(k): redis_text(v) for k, v in raw.items()}


def _completions(raw: Mapping[Any, Any]) -> dict[date, Completion]:
    result: dict[date, Completion] = {}
    for field, value in raw.items():
        day = date.fromisoformat(redis_text(field))
        data = encoding.decode_completion(redis_text(value))
        result[day] = Completion(day, data.get("rating"), data.get("note"))
    return result


def _flat(entry: Mapping[str, str]) -> list[str]:
    return [x for pair in entry.items() for x in pair]


def _entries(raw: Sequence[tuple[Any, Mapping[Any, Any]]]) -> list[tuple[str, dict[str, str]]]:
    return [(redis_text(i), encoding.decode_entry(_texts(fields))) for i, fields in raw]


def _raise_first(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result
