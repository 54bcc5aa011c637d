"""The notifier's own copy of what it needs to reach people, kept in Redis.

- client preferences (contacts, consent, order, opt-out, language, time zone, quiet
  hours), newest ``version`` wins;
- opt-outs the client made themselves (SMS STOP, unsubscribe links), per channel,
  which outlive preference updates until the client opts back in;
- clinic messaging settings from each clinic policy, newest ``version`` wins;
- per phone number (keys hold a hash, never the number): whose it is (every clinic and
  client that gave it: a family phone, a client of two clinics), whether each clinic
  messaged it already, the last reminder sent to it, and a number-level STOP (one
  sender number serves every clinic, and the carrier blocks it for all of them);
- per provider message id, as releases before the status callback URL named its reminder
  wrote it (read only, for a callback of a message sent by such a release).

Key layout: ``keys.py``. A client's record also keeps the hash of its SMS number, so the
send's one load (``lua.LOAD``) finds the number's flags without knowing the number.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date

from redis.asyncio import Redis

from notifier.keys import Keys, number_hash
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy
from shared.service import redis_text

_NEWER_WINS = """
local cur = redis.call('HGET', KEYS[1], 'version')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'data', ARGV[2])
return 1
"""
# KEYS[1] the client's preferences. ARGV: version, data, hash of the SMS number ('': none).
# Like _NEWER_WINS, but returns the data it replaced ('' when there was none), so the
# number's owners can follow a changed number.
_NEWER_PREFS = """
local cur = redis.call('HMGET', KEYS[1], 'version', 'data')
if cur[1] and tonumber(cur[1]) >= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'data', ARGV[2], 'sms', ARGV[3])
return cur[2] or ''
"""
MESSAGE_MAP_TTL = 30 * 86400  # a number's last reminder (and the old message map)


@dataclass(frozen=True)
class LastReminder:
    clinic_id: str
    client_ref: str
    assignment_id: str
    occurrence_date: str
    reminder_id: str
    correlation_id: str | None = None  # the EHR's, for the completion a "DONE" reports

    @property
    def occurrence(self) -> date:
        return date.fromisoformat(self.occurrence_date)


@dataclass(frozen=True, order=True)
class NumberOwner:
    clinic_id: str
    client_ref: str

    def member(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class SentMessage:
    """What a provider message id stands for."""

    reminder_id: str
    clinic_id: str | None = None
    correlation_id: str | None = None


class Directory:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._newer_wins = redis.register_script(_NEWER_WINS)
        self._newer_prefs = redis.register_script(_NEWER_PREFS)

    # -- client preferences and opt-outs --------------------------------------------
    async def save_preferences(self, prefs: ClientPreferencesChanged) -> bool:
        key = self.keys.client(prefs.clinic_id, prefs.client_ref)
        data, phone = prefs.model_dump_json(), prefs.contacts.sms
        args: list[str | int] = [prefs.version, data, number_hash(phone) if phone else ""]
        replaced = await self._newer_prefs(keys=[key], args=args)
        if replaced is None:
            return False
        before = ClientPreferencesChanged.model_validate_json(replaced) if replaced else None
        await self._follow_number(before.contacts.sms if before else None, prefs)
        return True

    async def _follow_number(self, old: str | None, prefs: ClientPreferencesChanged) -> None:
        """Keep the number's owners in step: a client is an owner of its current number only."""
        owner = NumberOwner(prefs.clinic_id, prefs.client_ref)
        new = prefs.contacts.sms
        if old and old != new:
            await self.redis.srem(self._number("owners", old), owner.member())
            legacy = await self.redis.get(self._number("owner", old))
            if legacy and NumberOwner(**json.loads(legacy)) == owner:
                await self.redis.delete(self._number("owner", old))
        if new:
            await self.redis.sadd(self._number("owners", new), owner.member())

    async def preferences(self, clinic_id: str, client_ref: str) -> ClientPreferencesChanged | None:
        raw = await self.redis.hget(self.keys.client(clinic_id, client_ref), "data")
        return ClientPreferencesChanged.model_validate_json(raw) if raw else None

    async def set_opt_out(
        self, clinic_id: str, client_ref: str, channel: Channel, out: bool
    ) -> None:
        key = self.keys.optout(clinic_id, client_ref)
        if out:
            await self.redis.sadd(key, channel.value)
        else:
            await self.redis.srem(key, channel.value)

    async def opted_out(self, clinic_id: str, client_ref: str) -> set[Channel]:
        members = await self.redis.smembers(self.keys.optout(clinic_id, client_ref))
        return {Channel(m.decode() if isinstance(m, bytes) else m) for m in members}

    # -- clinic settings -------------------------------------------------------------
    async def save_policy(self, clinic_id: str, policy: ClinicPolicy) -> bool:
        data = policy.model_dump_json()
        key = self.keys.policy(clinic_id, policy.policy_id)
        stored = await self._newer_wins(keys=[key], args=[policy.version, data])
        if stored:  # the clinic's latest policy, for reminders naming an unknown policy
            await self.redis.set(self.keys.policy_latest(clinic_id), policy.policy_id)
        return bool(stored)

    async def policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None:
        raw = await self.redis.hget(self.keys.policy(clinic_id, policy_id), "data")
        if raw is None:
            latest = await self.redis.get(self.keys.policy_latest(clinic_id))
            if latest is None:
                return None
            raw = await self.redis.hget(self.keys.policy(clinic_id, redis_text(latest)), "data")
        return ClinicPolicy.model_validate_json(raw) if raw else None

    # -- phone numbers -----------------------------------------------------------------
    def _number(self, kind: str, phone: str) -> str:
        return self.keys.number(kind, phone)

    async def number_owners(self, phone: str) -> list[NumberOwner]:
        """Every clinic and client that gave this number (also the single owner kept by
        versions before a number could have several)."""
        members, legacy = await self._number_owners_raw(phone)
        owners = {NumberOwner(**json.loads(m)) for m in members}
        if legacy:
            owners.add(NumberOwner(**json.loads(legacy)))
        return sorted(owners)

    async def _number_owners_raw(self, phone: str) -> tuple[set[bytes | str], bytes | str | None]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(self._number("owners", phone))
        pipe.get(self._number("owner", phone))
        members, legacy = await pipe.execute()
        return set(members), legacy

    async def number_stopped(self, phone: str) -> bool:
        return bool(await self.redis.exists(self._number("stop", phone)))

    async def set_number_stopped(self, phone: str, stopped: bool) -> None:
        if stopped:
            await self.redis.set(self._number("stop", phone), "1")
        else:
            await self.redis.delete(self._number("stop", phone))

    async def last_reminder(self, phone: str) -> LastReminder | None:
        raw = await self.redis.get(self._number("last", phone))
        return LastReminder(**json.loads(raw)) if raw else None

    # -- provider message ids ------------------------------------------------------------
    async def message(self, provider: str, message_id: str) -> SentMessage | None:
        """What a previous release recorded for a message it sent."""
        raw = await self.redis.get(self.keys.message(provider, message_id))
        if raw is None:
            return None
        text = redis_text(raw)
        if not text.startswith("{"):  # written before the clinic was kept with it
            return SentMessage(text)
        return SentMessage(**json.loads(text))
