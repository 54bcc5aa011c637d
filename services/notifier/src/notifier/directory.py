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
  wrote it (read only, for a callback of a message sent by such a release);
- per email address (a hash of it, lower-cased): whose it is (``owners``), and whether
  mail to it bounced or drew a spam complaint (``stop``). A stop opts every owner out of
  email (their opt-out set, checked at send time like a STOP); a complaint is the
  person's own opt-out and stays, a bounce is held (the client's ``email-held``, the
  hash) and lifted when the EHR sends that client a different address.

Key layout: ``keys.py``. A client's record also keeps the hash of its SMS number, so the
send's one load (``lua.LOAD``) finds the number's flags without knowing the number.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal

from notifier.keys import Keys, number_hash
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy, ContactPoints
from shared.service import RedisClient, redis_text

# KEYS[1] the clinic's policies. ARGV: policy id, version, data. The newest version of
# a policy wins; the one stored last is the clinic's latest (reminders naming an unknown
# policy use it).
_NEWER_POLICY = """
local cur = redis.call('HGET', KEYS[1], 'v:' .. ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v:' .. ARGV[1], ARGV[2], 'd:' .. ARGV[1], ARGV[3],
           'latest', ARGV[1])
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
# KEYS: 1 the client's opt-outs, 2 its bounce hold. ARGV: 1 the address hash, 2 '1' to
# hold (a bounce). Returns 1 when the client was not opted out of email before.
_STOP_EMAIL = """
if redis.call('SADD', KEYS[1], 'email') == 0 then return 0 end
if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[1]) end
return 1
"""
# A client's address changed (or is new): a bounce hold on another address is lifted,
# and a stopped new address opts the client out (held, for a bounce).
# KEYS: 1 opt-outs, 2 bounce hold (the client's slot). ARGV: the new hash ('': none),
# the new address's stop as read just before ('': none; it is in the address's slot).
_FOLLOW_EMAIL = """
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], 'email')
  held = false
end
if ARGV[1] == '' or held then return 0 end
local stop = ARGV[2]
if stop ~= '' and redis.call('SADD', KEYS[1], 'email') == 1 and stop == 'bounced' then
  redis.call('SET', KEYS[2], ARGV[1])
end
return 0
"""
# KEYS[1] the address's stop. ARGV: reason, seconds to keep a bounce. A complaint is
# never downgraded to a bounce.
_ADDRESS_STOP = """
if redis.call('GET', KEYS[1]) == 'complained' then return 0 end
if ARGV[1] == 'bounced' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""
# Compare-and-set of a client's preferences data (same version): removes a push
# subscription only if nothing replaced the preferences since they were read.
_REPLACE_DATA = """
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1
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


EmailStop = Literal["bounced", "complained"]
# How long a bounced address stays stopped for clients who give it later (SendGrid keeps
# its own bounce list too); the clients it bounced for stay held until their address changes.
BOUNCE_TTL = 90 * 86400


def address_hash(address: str) -> str:
    return number_hash(address.strip().lower())


@dataclass(frozen=True)
class SentMessage:
    """What a provider message id stands for."""

    reminder_id: str
    clinic_id: str | None = None
    correlation_id: str | None = None


class Directory:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._newer_policy = redis.register_script(_NEWER_POLICY)
        self._newer_prefs = redis.register_script(_NEWER_PREFS)
        self._stop_email = redis.register_script(_STOP_EMAIL)
        self._follow_email = redis.register_script(_FOLLOW_EMAIL)
        self._address_stop = redis.register_script(_ADDRESS_STOP)
        self._replace_data = redis.register_script(_REPLACE_DATA)

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
        await self._follow_address(before.contacts.email if before else None, prefs)
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

    async def _follow_address(self, old: str | None, prefs: ClientPreferencesChanged) -> None:
        """The address's owners, and the client's email stop, follow its address."""
        owner = NumberOwner(prefs.clinic_id, prefs.client_ref)
        new = prefs.contacts.email
        if old and old != new:
            await self.redis.srem(self._address("owners", old), owner.member())
        if new:
            await self.redis.sadd(self._address("owners", new), owner.member())
        held = self._held(prefs.clinic_id, prefs.client_ref)
        keys = [self.keys.optout(prefs.clinic_id, prefs.client_ref), held]
        stop = await self.redis.get(self._address("stop", new)) if new else None
        args = [address_hash(new) if new else "", redis_text(stop) if stop else ""]
        await self._follow_email(keys=keys, args=args)

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

    # -- email addresses ----------------------------------------------------------------
    def _address(self, kind: str, address: str) -> str:
        return self.keys.address_hashed(kind, address_hash(address))

    def _held(self, clinic_id: str, client_ref: str) -> str:
        return self.keys.email_held(clinic_id, client_ref)

    async def address_owners(self, address: str) -> list[NumberOwner]:
        members = await self.redis.smembers(self._address("owners", address))
        return sorted(NumberOwner(**json.loads(m)) for m in members)

    async def address_stopped(self, address: str) -> EmailStop | None:
        raw = await self.redis.get(self._address("stop", address))
        text = redis_text(raw) if raw is not None else None
        return "complained" if text == "complained" else "bounced" if text else None

    async def stop_address(self, address: str, reason: EmailStop) -> list[NumberOwner]:
        """No more email to ``address``: for every client that gave it, and for whoever
        gives it later. Returns the owners it applied to."""
        await self._address_stop(keys=[self._address("stop", address)], args=[reason, BOUNCE_TTL])
        owners = await self.address_owners(address)
        hashed, hold = address_hash(address), "1" if reason == "bounced" else "0"
        for owner in owners:
            keys = [
                self.keys.optout(owner.clinic_id, owner.client_ref),
                self._held(owner.clinic_id, owner.client_ref),
            ]
            await self._stop_email(keys=keys, args=[hashed, hold])
        return owners

    # -- push subscriptions -----------------------------------------------------------------
    async def remove_push(self, clinic_id: str, client_ref: str, endpoint: str) -> bool:
        """Forget the client's push subscription if it is still ``endpoint`` (a newer one
        from the EHR stays). True when it was removed."""
        key = self.keys.client(clinic_id, client_ref)
        for _ in range(3):  # a preferences update between read and write: read again
            raw = await self.redis.hget(key, "data")
            if raw is None:
                return False
            prefs = ClientPreferencesChanged.model_validate_json(raw)
            push = prefs.contacts.push
            if push is None or push.endpoint != endpoint:
                return False
            contacts = ContactPoints.model_validate({**prefs.contacts.model_dump(), "push": None})
            data = prefs.model_copy(update={"contacts": contacts}).model_dump_json()
            if await self._replace_data(keys=[key], args=[redis_text(raw), data]):
                return True
        return False

    # -- clinic settings -------------------------------------------------------------
    async def save_policy(self, clinic_id: str, policy: ClinicPolicy) -> bool:
        args: list[str | int] = [policy.policy_id, policy.version, policy.model_dump_json()]
        return bool(await self._newer_policy(keys=[self.keys.policies(clinic_id)], args=args))

    async def policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None:
        key = self.keys.policies(clinic_id)
        raw, latest = await self.redis.hmget(key, [f"d:{policy_id}", "latest"])
        if raw is None and latest is not None:
            raw = await self.redis.hget(key, f"d:{redis_text(latest)}")
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
