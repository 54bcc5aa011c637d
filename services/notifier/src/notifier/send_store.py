"""The Redis adapter of sending: load what a decision needs in one call, reserve right
before each provider call in one script, record the outcome in one script.

Never twice: ``sending`` is a lease taken by ``reserve`` (atomically with the rate token
and the cap slot, after re-checking the assignment): the delivery holding it calls the
provider, a redelivery meanwhile finds it and retries later. ``sent`` records what the
provider accepted; every later delivery of that reminder only announces it again. The
at-least-once window: a crash after the provider accepted and before ``sent`` is written
leaves only the lease, which expires after ``send_lease_seconds``; the redelivered
reminder is then sent again. Everything else is exactly once.
Every key is in the client's hash slot but the policy's, the number's and the
provider's (``keys.py``): each step runs one script per slot, together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from notifier import lua
from notifier.assignments import AssignmentState
from notifier.caps import DAY_TTL_SECONDS, WEEK_TTL_SECONDS
from notifier.decide import MemberState, Send, SendContext
from notifier.directory import MESSAGE_MAP_TTL as MAP_TTL
from notifier.directory import LastReminder
from notifier.keys import Keys, number_hash
from notifier.outcomes import SentRecord
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy, ReminderDue
from shared.contracts.policy import ParsedPolicies
from shared.service import RedisClient, ScriptCall, eval_together, redis_text


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
    def __init__(
        self, redis: RedisClient, keys: Keys, *, lease_seconds: int, ttl_seconds: int
    ) -> None:
        self.redis, self.keys = redis, keys
        self.lease_ms, self.ttl = lease_seconds * 1000, ttl_seconds
        script = redis.register_script
        self._load_client, self._load_policy = script(lua.LOAD_CLIENT), script(lua.LOAD_POLICY)
        self._number_flags = script(lua.NUMBER_FLAGS)
        self._reserve_client = script(lua.RESERVE_CLIENT)
        self._reserve_provider = script(lua.RESERVE_PROVIDER)
        self._unreserve = script(lua.UNRESERVE)
        self._commit_sent, self._number_sent = script(lua.COMMIT_SENT), script(lua.NUMBER_SENT)
        self._forget_failures = script(lua.FORGET_FAILURES)
        self._settle = script(lua.SETTLE)
        self._failed, self._stop_number = script(lua.FAILED), script(lua.STOP_NUMBER)
        self._policies = ParsedPolicies()

    # -- load ---------------------------------------------------------------------------
    async def load(self, event: ReminderDue) -> SendContext:
        """The client's and the clinic's slots together; then, for a client with an SMS
        number, the number's (its hash is in the client's record)."""
        k, clinic, client, rid = self.keys, event.clinic_id, event.client_ref, event.reminder_id
        keys = [
            k.sent(clinic, client, rid),
            k.client(clinic, client),
            k.optout(clinic, client),
            k.failed(clinic, client, rid),
            k.assignment(clinic, client, event.assignment_id),
        ]
        for item in event.digest:  # the digest's other reminders, in the same round trip
            keys.append(k.sent(clinic, client, item.reminder_id))
            keys.append(k.assignment(clinic, client, item.assignment_id))
        raw, policy = await eval_together(
            self.redis,
            [
                (self._load_client, keys, []),
                (self._load_policy, [k.policies(clinic)], [event.policy_id]),
            ],
        )
        sent, prefs_raw, number, opted_out, failed, rev, assignment, members = raw
        prefs = ClientPreferencesChanged.model_validate_json(prefs_raw) if prefs_raw else None
        phone = prefs.contacts.sms if prefs is not None else None
        # A record that does not keep its number's hash yet (migrated from an older
        # release): derived from the number, kept with the next preferences update.
        hashed = redis_text(number) if number else number_hash(phone) if phone else None
        stop, seen = await self._number(clinic, hashed) if phone and hashed else (0, 0)
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
            members=tuple(_member(m) for m in members) if event.digest else (),
        )

    async def _number(self, clinic_id: str, hashed: str) -> tuple[int, int]:
        keys = [self.keys.number_hashed("stop", hashed), self.keys.seen_hashed(clinic_id, hashed)]
        # Through eval_together: batched with other handlers' round trips (redis_batch).
        [(stop, seen)] = await eval_together(self.redis, [(self._number_flags, keys, [])])
        return int(stop), int(seen)

    def _policy(self, raw: bytes | None) -> ClinicPolicy | None:
        return self._policies.parse(raw) if raw else None

    # -- reserve --------------------------------------------------------------------------
    async def reserve(
        self, event: ReminderDue, send: Send, *, token: str, rev: int, circuit: str, bucket: Bucket
    ) -> Reserved:
        """The client's part (lease, cap slot, unchanged assignment) and the provider's
        (closed circuit, rate token) together. A token taken while the client's part
        refused is spent (a redelivery, a capped reminder: rare); a client's part taken
        while the provider's refused is given back at once."""
        k, clinic, client, rid = self.keys, event.clinic_id, event.client_ref, event.reminder_id
        caps = k.caps(clinic, client)
        keys = [
            k.sent(clinic, client, rid),
            k.lease(clinic, client, rid),
            k.assignment(clinic, client, event.assignment_id),
            f"{caps}:d:{send.period.day}",
            f"{caps}:w:{send.period.week}",
            f"{caps}:held:{rid}",
        ]
        args: list[Any] = [token, self.lease_ms, rev, rid, send.caps.per_day]
        args += [send.caps.per_week, DAY_TTL_SECONDS, WEEK_TTL_SECONDS, self.ttl]
        if (together := send.together) is not None:  # a digest: its other reminders too
            for member, member_rev in zip(together.members[1:], together.revs[1:], strict=True):
                mid = member.reminder_id
                keys += [k.sent(clinic, client, mid), k.lease(clinic, client, mid)]
                keys.append(k.assignment(clinic, client, member.assignment_id))
                args.append(member_rev)
        provider_keys = [k.circuit(circuit, "open"), k.rate(circuit, bucket.key)]
        provider_args = [bucket.rate, max(bucket.burst, 1.0), int(time.time() * 1000)]
        mine, theirs = await eval_together(
            self.redis,
            [
                (self._reserve_client, keys, args),
                (self._reserve_provider, provider_keys, provider_args),
            ],
        )
        outcome, number, *data = mine
        name = redis_text(outcome)
        if name == "changed":
            text = redis_text(data[0]) if data else ""
            state = AssignmentState.from_json(json.loads(text)) if text else None
            return Reserved(name, rev=int(number), assignment=state)
        if name == "ok" and redis_text(theirs[0]) != "ok":
            leases = keys[1:2] + keys[3:6] + keys[7::3]
            await self._unreserve(keys=leases, args=[token, rid, int(number)])
            name, number = redis_text(theirs[0]), theirs[1]
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
        digest carried, each recorded (and its lease released) in the same script. The
        number's and the provider's keys are written in the same round trip."""
        k, clinic, client, rid = self.keys, event.clinic_id, event.client_ref, event.reminder_id
        keys = [k.sent(clinic, client, rid), k.lease(clinic, client, rid)]
        args: list[Any] = [json.dumps(asdict(record)), self.ttl, token]
        for other, other_record in others:
            keys += [k.sent(clinic, client, other.reminder_id)]
            keys += [k.lease(clinic, client, other.reminder_id)]
            args.append(json.dumps(asdict(other_record)))
        calls: list[ScriptCall] = [
            (self._commit_sent, keys, args),
            (self._forget_failures, [k.circuit(record.provider, "failures")], []),
        ]
        if phone:
            last = LastReminder(
                clinic,
                client,
                event.assignment_id,
                event.occurrence_date.isoformat(),
                rid,
                event.correlation_id,
            )
            number_keys = [k.seen(clinic, phone), k.number("last", phone)]
            calls.append((self._number_sent, number_keys, [json.dumps(asdict(last)), MAP_TTL]))
        await eval_together(self.redis, calls)

    async def digest_members(self, clinic_id: str, client_ref: str, reminder_id: str) -> list[str]:
        """The reminders a message sent for ``reminder_id`` carried: itself, and for a
        digest the others (a provider's status callback names only the first; each of
        them is told). Empty when no send of it is recorded."""
        record = await self.sent(clinic_id, client_ref, reminder_id)
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
        k, clinic, client, rid = self.keys, event.clinic_id, event.client_ref, event.reminder_id
        held_key = f"{k.caps(clinic, client)}:held:{rid}"
        keys = [
            k.lease(clinic, client, rid),
            held_key,
            k.reminder(once or "suppressed", clinic, client, rid),
        ]
        held = await self.redis.get(held_key) if give_back else None
        if held is not None:  # the day's and week's sets it counted in: passed as keys
            keys += [str(name) for name in json.loads(held)]
        args: list[str | int] = [token or "", rid, self.ttl, int(give_back), int(once is not None)]
        args.append(redis_text(held) if held is not None else "")
        return bool(await self._settle(keys=keys, args=args))

    async def mark_failed(self, event: ReminderDue, channel: Channel, stop: str | None) -> None:
        """A permanent failure on ``channel``; ``stop``: a number whose owner replied STOP."""
        key = self.keys.failed(event.clinic_id, event.client_ref, event.reminder_id)
        calls: list[ScriptCall] = [(self._failed, [key], [channel.value, self.ttl])]
        if stop:
            calls.append((self._stop_number, [self.keys.number("stop", stop)], []))
        await eval_together(self.redis, calls)

    # -- inspection -------------------------------------------------------------------------
    async def sent(self, clinic_id: str, client_ref: str, reminder_id: str) -> SentRecord | None:
        raw = await self.redis.get(self.keys.sent(clinic_id, client_ref, reminder_id))
        return SentRecord(**json.loads(raw)) if raw else None

    async def lease_left(self, clinic_id: str, client_ref: str, reminder_id: str) -> float:
        ms = await self.redis.pttl(self.keys.lease(clinic_id, client_ref, reminder_id))
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
