"""The Redis adapter of sending: load what a decision needs in one call, reserve right
before each provider call in one script, record the outcome in one script.

Never twice: ``sending`` is a lease taken by ``reserve`` (atomically with the rate token
and the cap slot, after re-checking the assignment): the delivery holding it calls the
provider, a redelivery meanwhile finds it and retries later. ``sent`` records what the
provider accepted; every later delivery of that reminder only announces it again. The
at-least-once window: a crash after the provider accepted and before ``sent`` is written
leaves only the lease, which expires after ``send_lease_seconds``; the redelivered
reminder is then sent again. Everything else is exactly once.
Upgrade: ``sent:<reminder_id>`` records written before keys named the clinic are still
read (the scheduler's ids are hashes that include the clinic, so they never collide).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from notifier import lua
from notifier.assignments import AssignmentState
from notifier.caps import DAY_TTL_SECONDS, WEEK_TTL_SECONDS
from notifier.decide import MemberState, Send, SendContext
from notifier.directory import MESSAGE_MAP_TTL, LastReminder
from notifier.keys import Keys, number_hash
from notifier.outcomes import SentRecord
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy, ReminderDue
from shared.contracts.policy import ParsedPolicies
from shared.service import redis_text


@dataclass(frozen=True)
class Reserved:
    """What ``reserve`` found: ``ok`` (lease, cap slot and rate token taken), ``sent``,
    ``busy`` (someone else's lease, ``seconds`` left), ``changed`` (the assignment, at
    ``rev``), ``cap``, ``open`` (the circuit, ``seconds`` left) or ``wait`` (``seconds``
    for a rate token)."""

    outcome: str
    seconds: float = 0.0
    rev: int = 0
    assignment: AssignmentState | None = None


@dataclass(frozen=True)
class Bucket:
    key: str  # the provider's rate key (account and sender)
    rate: float  # tokens per second
    burst: float


class SendStore:
    def __init__(self, redis: Redis, keys: Keys, *, lease_seconds: int, ttl_seconds: int) -> None:
        self.redis, self.keys = redis, keys
        self.lease_ms, self.ttl = lease_seconds * 1000, ttl_seconds
        self._load = redis.register_script(lua.LOAD)
        self._legacy_number = redis.register_script(lua.LEGACY_NUMBER)
        self._reserve = redis.register_script(lua.RESERVE)
        self._commit_sent = redis.register_script(lua.COMMIT_SENT)
        self._settle = redis.register_script(lua.SETTLE)
        self._failed = redis.register_script(lua.FAILED)
        self._policies = ParsedPolicies()

    # -- load ---------------------------------------------------------------------------
    async def load(self, event: ReminderDue) -> SendContext:
        k, clinic, rid = self.keys, event.clinic_id, event.reminder_id
        keys = [
            k.sent(clinic, rid),
            k.legacy_sent(rid),
            k.client(clinic, event.client_ref),
            k.optout(clinic, event.client_ref),
            k.policy(clinic, event.policy_id),
            k.policy_latest(clinic),
            k.failed(clinic, rid),
            k.assignment(clinic, event.assignment_id),
        ]
        for item in event.digest:  # the digest's other reminders, in the same round trip
            keys += [k.sent(clinic, item.reminder_id), k.assignment(clinic, item.assignment_id)]
        raw = await self._load(keys=keys, args=[k.prefix, clinic])
        sent, prefs_raw, number, opted_out, policy, failed, rev, assignment, stop, seen = raw[:10]
        prefs = ClientPreferencesChanged.model_validate_json(prefs_raw) if prefs_raw else None
        if prefs is not None and prefs.contacts.sms and number is None:
            stop, seen = await self._number_flags(event, prefs, prefs.contacts.sms)
        return SendContext(
            sent=SentRecord(**json.loads(sent)) if sent else None,
            prefs=prefs,
            policy=self._policy(policy),
            opted_out=_channels(opted_out),
            number_stopped=bool(stop),
            failed=_channels(failed),
            first_sms=not seen,
            assignment=_assignment(assignment),
            assignment_rev=int(rev),
            members=tuple(_member(m) for m in raw[10]) if event.digest else (),
        )

    async def _number_flags(
        self, event: ReminderDue, prefs: ClientPreferencesChanged, phone: str
    ) -> list[int]:
        """A record of a release before clients kept their number's hash: one more round
        trip (until the next preferences update, which keeps it)."""
        keys = [
            self.keys.client(event.clinic_id, event.client_ref),
            self.keys.number("stop", phone),
            self.keys.seen(event.clinic_id, phone),
        ]
        flags: list[int] = await self._legacy_number(
            keys=keys, args=[prefs.version, number_hash(phone)]
        )
        return flags

    def _policy(self, raw: bytes | None) -> ClinicPolicy | None:
        return self._policies.parse(raw) if raw else None

    # -- reserve --------------------------------------------------------------------------
    async def reserve(
        self, event: ReminderDue, send: Send, *, token: str, rev: int, circuit: str, bucket: Bucket
    ) -> Reserved:
        k, clinic, rid = self.keys, event.clinic_id, event.reminder_id
        caps = k.caps(clinic, event.client_ref)
        keys = [
            k.sent(clinic, rid),
            k.legacy_sent(rid),
            k.lease(clinic, rid),
            k.assignment(clinic, event.assignment_id),
            f"{caps}:d:{send.period.day}",
            f"{caps}:w:{send.period.week}",
            f"{caps}:held:{rid}",
            k.circuit(circuit, "open"),
            k.rate(bucket.key),
        ]
        args: list[Any] = [
            token,
            self.lease_ms,
            rev,
            rid,
            send.caps.per_day,
            send.caps.per_week,
            DAY_TTL_SECONDS,
            WEEK_TTL_SECONDS,
            self.ttl,
            bucket.rate,
            max(bucket.burst, 1.0),
            int(time.time() * 1000),
        ]
        if (together := send.together) is not None:  # a digest: its other reminders too
            for member, member_rev in zip(together.members[1:], together.revs[1:], strict=True):
                mid = member.reminder_id
                keys += [k.sent(clinic, mid), k.lease(clinic, mid)]
                keys.append(k.assignment(clinic, member.assignment_id))
                args.append(member_rev)
        outcome, number, *data = await self._reserve(keys=keys, args=args)
        name = redis_text(outcome)
        if name == "changed":
            text = redis_text(data[0]) if data else ""
            state = AssignmentState.from_json(json.loads(text)) if text else None
            return Reserved(name, rev=int(number), assignment=state)
        return Reserved(name, seconds=max(int(number), 0) / 1000)

    # -- record ---------------------------------------------------------------------------
    async def commit_sent(
        self,
        event: ReminderDue,
        record: SentRecord,
        *,
        token: str,
        phone: str | None,
        others: Sequence[tuple[ReminderDue, SentRecord]] = (),
    ) -> None:
        """Everything an SMS reply needs is written with the record: once ``sent``
        exists, a redelivery only re-announces it. ``others``: the other reminders a
        digest carried, each recorded (and its lease released) in the same script."""
        k, clinic, rid = self.keys, event.clinic_id, event.reminder_id
        keys = [k.sent(clinic, rid), k.lease(clinic, rid), k.circuit(record.provider, "failures")]
        args: list[Any] = [json.dumps(asdict(record)), self.ttl, token, int(bool(phone)), "", 0]
        if phone:
            last = LastReminder(
                clinic,
                event.client_ref,
                event.assignment_id,
                event.occurrence_date.isoformat(),
                rid,
                event.correlation_id,
            )
            keys += [k.seen(clinic, phone), k.number("last", phone)]
            args[4:6] = [json.dumps(asdict(last)), MESSAGE_MAP_TTL]
        for other, other_record in others:
            keys += [k.sent(clinic, other.reminder_id), k.lease(clinic, other.reminder_id)]
            args.append(json.dumps(asdict(other_record)))
        await self._commit_sent(keys=keys, args=args)

    async def digest_members(self, clinic_id: str, reminder_id: str) -> list[str]:
        """The reminders a message sent for ``reminder_id`` carried: itself, and for a
        digest the others (a provider's status callback names only the first; each of
        them is told). Empty when no send of it is recorded."""
        record = await self.sent(clinic_id, reminder_id)
        if record is None:
            return []
        return [reminder_id, *(record.digest or ())]

    async def settle(
        self,
        event: ReminderDue,
        token: str | None,
        *,
        give_back: bool = False,
        once: str | None = None,
    ) -> bool:
        """Release the lease if ``token`` holds it, give the cap slot back, claim the
        once-announcement ``once``: True if it was claimed now (announce it)."""
        k, clinic, rid = self.keys, event.clinic_id, event.reminder_id
        keys = [
            k.lease(clinic, rid),
            f"{k.caps(clinic, event.client_ref)}:held:{rid}",
            k.reminder(once or "suppressed", clinic, rid),
        ]
        args: list[str | int] = [token or "", rid, self.ttl, int(give_back), int(once is not None)]
        return bool(await self._settle(keys=keys, args=args))

    async def mark_failed(self, event: ReminderDue, channel: Channel, stop: str | None) -> None:
        """A permanent failure on ``channel``; ``stop``: a number whose owner replied STOP."""
        keys = [self.keys.failed(event.clinic_id, event.reminder_id)]
        if stop:
            keys.append(self.keys.number("stop", stop))
        await self._failed(keys=keys, args=[channel.value, self.ttl])

    # -- inspection -------------------------------------------------------------------------
    async def sent(self, clinic_id: str, reminder_id: str) -> SentRecord | None:
        keys = (self.keys.sent(clinic_id, reminder_id), self.keys.legacy_sent(reminder_id))
        raw, old = await self.redis.mget(*keys)
        found = raw or old
        return SentRecord(**json.loads(found)) if found else None

    async def lease_left(self, clinic_id: str, reminder_id: str) -> float:
        ms = await self.redis.pttl(self.keys.lease(clinic_id, reminder_id))
        return max(ms, 0) / 1000


def _channels(members: list[bytes | str]) -> frozenset[Channel]:
    return frozenset(Channel(redis_text(m)) for m in members)


def _assignment(raw: bytes | None) -> AssignmentState | None:
    return AssignmentState.from_json(json.loads(raw)) if raw else None


def _member(raw: list[Any]) -> MemberState:
    """One other reminder of a digest as loaded: {sent, assignment rev, assignment data}."""
    sent, rev, assignment = [*raw, None, None, None][:3]
    return MemberState(
        sent=SentRecord(**json.loads(sent)) if sent else None,
        assignment=_assignment(assignment),
        assignment_rev=int(rev or 0),
    )
