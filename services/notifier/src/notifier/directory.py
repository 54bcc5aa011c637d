"""The notifier's own copy of what it needs to reach people, kept in Redis.

- client preferences (contacts, consent, order, opt-out, language, time zone, quiet
  hours), newest ``version`` wins;
- opt-outs the client made themselves (SMS STOP, unsubscribe links), per channel,
  which outlive preference updates until the client opts back in;
- clinic messaging settings from each clinic policy, newest ``version`` wins;
- per phone number (keys hold a hash, never the number): whose it is, whether it got
  a message already, the last reminder sent to it, and a number-level STOP.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date

from redis.asyncio import Redis

from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy

_NEWER_WINS = """
local cur = redis.call('HGET', KEYS[1], 'version')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'data', ARGV[2])
return 1
"""
MESSAGE_MAP_TTL = 30 * 86400


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def number_hash(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LastReminder:
    clinic_id: str
    client_ref: str
    assignment_id: str
    occurrence_date: str
    reminder_id: str

    @property
    def occurrence(self) -> date:
        return date.fromisoformat(self.occurrence_date)


@dataclass(frozen=True)
class NumberOwner:
    clinic_id: str
    client_ref: str


class Directory:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._newer_wins = redis.register_script(_NEWER_WINS)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- client preferences and opt-outs --------------------------------------------
    async def save_preferences(self, prefs: ClientPreferencesChanged) -> bool:
        key = self._k("client", prefs.clinic_id, prefs.client_ref)
        stored = await self._newer_wins(keys=[key], args=[prefs.version, prefs.model_dump_json()])
        if stored and prefs.contacts.sms:
            owner = NumberOwner(prefs.clinic_id, prefs.client_ref)
            await self.redis.set(
                self._number("owner", prefs.contacts.sms), json.dumps(asdict(owner))
            )
        return bool(stored)

    async def preferences(self, clinic_id: str, client_ref: str) -> ClientPreferencesChanged | None:
        raw = await self.redis.hget(self._k("client", clinic_id, client_ref), "data")
        return ClientPreferencesChanged.model_validate_json(raw) if raw else None

    async def set_opt_out(
        self, clinic_id: str, client_ref: str, channel: Channel, out: bool
    ) -> None:
        key = self._k("optout", clinic_id, client_ref)
        if out:
            await self.redis.sadd(key, channel.value)
        else:
            await self.redis.srem(key, channel.value)

    async def opted_out(self, clinic_id: str, client_ref: str) -> set[Channel]:
        members = await self.redis.smembers(self._k("optout", clinic_id, client_ref))
        return {Channel(m.decode() if isinstance(m, bytes) else m) for m in members}

    # -- clinic settings -------------------------------------------------------------
    async def save_policy(self, clinic_id: str, policy: ClinicPolicy) -> bool:
        data = policy.model_dump_json()
        key = self._k("policy", clinic_id, policy.policy_id)
        stored = await self._newer_wins(keys=[key], args=[policy.version, data])
        if stored:  # the clinic's latest policy, for reminders naming an unknown policy
            await self.redis.set(self._k("policy-latest", clinic_id), policy.policy_id)
        return bool(stored)

    async def policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None:
        raw = await self.redis.hget(self._k("policy", clinic_id, policy_id), "data")
        if raw is None:
            latest = await self.redis.get(self._k("policy-latest", clinic_id))
            if latest is None:
                return None
            raw = await self.redis.hget(self._k("policy", clinic_id, _text(latest)), "data")
        return ClinicPolicy.model_validate_json(raw) if raw else None

    # -- phone numbers -----------------------------------------------------------------
    def _number(self, kind: str, phone: str) -> str:
        return self._k("number", kind, number_hash(phone))

    async def number_owner(self, phone: str) -> NumberOwner | None:
        raw = await self.redis.get(self._number("owner", phone))
        return NumberOwner(**json.loads(raw)) if raw else None

    async def number_stopped(self, phone: str) -> bool:
        return bool(await self.redis.exists(self._number("stop", phone)))

    async def set_number_stopped(self, phone: str, stopped: bool) -> None:
        if stopped:
            await self.redis.set(self._number("stop", phone), "1")
        else:
            await self.redis.delete(self._number("stop", phone))

    async def has_messaged(self, phone: str) -> bool:
        """Whether a message reached the provider for this number (the first one carries
        the opt-out instructions; marked only after the provider accepted it)."""
        return bool(await self.redis.exists(self._number("seen", phone)))

    async def mark_messaged(self, phone: str) -> None:
        await self.redis.set(self._number("seen", phone), "1")

    async def remember_reminder(self, phone: str, last: LastReminder) -> None:
        await self.redis.set(
            self._number("last", phone), json.dumps(asdict(last)), ex=MESSAGE_MAP_TTL
        )

    async def last_reminder(self, phone: str) -> LastReminder | None:
        raw = await self.redis.get(self._number("last", phone))
        return LastReminder(**json.loads(raw)) if raw else None

    # -- provider message ids ------------------------------------------------------------
    async def map_message(self, provider: str, message_id: str, reminder_id: str) -> None:
        await self.redis.set(self._k("msg", provider, message_id), reminder_id, ex=MESSAGE_MAP_TTL)

    async def reminder_for(self, provider: str, message_id: str) -> str | None:
        raw = await self.redis.get(self._k("msg", provider, message_id))
        return _text(raw) if raw else None
