"""A client's erasure (``client.erased``): everything the notifier holds about it goes.

What names the client (``keys.py``): its preferences hash ``client:<clinic>:<client>``
(contacts, consent, language), its own opt-outs ``optout:<clinic>:<client>``, its cap
keys ``{caps:<clinic>/<client>}:*`` (found by a SCAN of that pattern: erasure is rare,
and the scan spares an index), and the entries of its SMS number that point at it: its
member of ``number:owners:<hash>``, the legacy ``number:owner:<hash>`` and
``number:last:<hash>`` (the last reminder the number got) when they name it; its member
of its email address's ``email:owners:<hash>`` and its bounce hold
``email:held:<clinic>:<client>``. All go in one script (``ERASE``; the notifier's
scripts run on one Redis, see ``keys.py``).

Its assignment records (``assignment:<clinic>/<id>``: version, status, done days) name
no client; the client's assignment index ``assignments-of:<clinic>:<client>`` (written
beside each record, expiring with them) finds them, and they go too: a record left
would suppress a new assignment's reminders under the same id as "completed".

What stays, because it does not name the client: per-reminder ledgers (``sent``,
``sending``, ``failed``, once-claims; ids, channel and provider only) for their dedupe
TTL, so a reminder already on its way is still sent at most once; the number-level STOP
and "this clinic texted the number" flags (a hash of the number, needed to honour STOP).
A number the client gave before its current one keeps its ``number:last`` (naming the
client) until that expires (``MESSAGE_MAP_TTL``, 30 days).

After the erasure the client is unknown: a reminder on its way finds no contact and is
suppressed; an old unsubscribe link changes nothing (``unsubscribe.py``); an SMS reply
from its number finds no owner and no last reminder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from redis.asyncio import Redis

from notifier.assignment_store import STATE_TTL_SECONDS
from notifier.directory import NumberOwner, address_hash
from notifier.keys import Keys, number_hash
from shared.contracts import ClientErased, ClientPreferencesChanged
from shared.erasure import glob_escape
from shared.service import redis_text

# KEYS: 1 client, 2 opt-outs, 3 number owners, 4 number owner (legacy), 5 number's last
# reminder, 6 the client's assignment index, 7 its email address's owners, 8 its email
# bounce hold, then its cap keys (ARGV[4] of them), then its assignment records.
# ARGV: the owner member (JSON), clinic, client, cap key count.
# The number and address keys are passed even without one (they then name nothing and
# hold nothing). Returns {contacts, opt-outs, number links, cap keys, assignment records,
# email links}.
ERASE = """
local optouts = redis.call('SCARD', KEYS[2])
redis.call('DEL', KEYS[2])
local contacts = redis.call('DEL', KEYS[1])
local links = redis.call('SREM', KEYS[3], ARGV[1])
local function names_client(raw)
  if not raw then return false end
  local ok, v = pcall(cjson.decode, raw)
  return ok and type(v) == 'table' and v.clinic_id == ARGV[2] and v.client_ref == ARGV[3]
end
for i = 4, 5 do
  if names_client(redis.call('GET', KEYS[i])) then links = links + redis.call('DEL', KEYS[i]) end
end
redis.call('DEL', KEYS[6])
local email = redis.call('SREM', KEYS[7], ARGV[1]) + redis.call('DEL', KEYS[8])
local caps, assignments = 0, 0
local last_cap = 8 + tonumber(ARGV[4])
for i = 9, last_cap do caps = caps + redis.call('DEL', KEYS[i]) end
for i = last_cap + 1, #KEYS do assignments = assignments + redis.call('DEL', KEYS[i]) end
return {contacts, optouts, links, caps, assignments, email}
"""


def assignments_key(keys: Keys, clinic_id: str, client_ref: str) -> str:
    """The client's assignment index: ``<p>:assignments-of:<clinic>:<client>``, a set of
    the assignment ids whose records (``assignment_store.py``) name no client, so that an
    erasure finds them; it expires with them."""
    return f"{keys.prefix}:assignments-of:{clinic_id}:{client_ref}"


async def remember_assignment(
    redis: Redis, keys: Keys, clinic_id: str, client_ref: str, assignment_id: str
) -> None:
    """Index an assignment record just written under its client (one round trip)."""
    key = assignments_key(keys, clinic_id, client_ref)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd(key, assignment_id)
        pipe.expire(key, STATE_TTL_SECONDS)
        await pipe.execute()


def email_keys(keys: Keys, clinic_id: str, client_ref: str, address: str | None) -> list[str]:
    """The owners set of the client's email address and its bounce hold (the layout of
    ``directory.py``; ``-`` stands for no address)."""
    hashed = address_hash(address) if address else "-"
    return [
        f"{keys.prefix}:email:owners:{hashed}",
        f"{keys.prefix}:email:held:{clinic_id}:{client_ref}",
    ]


class Erasure:
    """Deletes a client's data: one load (its number, its cap keys), one script."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.keys = redis, Keys(prefix)
        self._erase = redis.register_script(ERASE)

    async def erase(self, event: ClientErased) -> dict[str, int]:
        clinic_id, client_ref = event.clinic_id, event.client_ref
        k = self.keys
        number, address = await self._contacts(clinic_id, client_ref)
        caps = [key async for key in self._cap_keys(clinic_id, client_ref)]
        index = assignments_key(k, clinic_id, client_ref)
        assignments = sorted(redis_text(a) for a in await self.redis.smembers(index))
        keys = [k.client(clinic_id, client_ref), k.optout(clinic_id, client_ref)]
        keys += [k.number_hashed(kind, number or "-") for kind in ("owners", "owner", "last")]
        keys += [index, *email_keys(k, clinic_id, client_ref, address)]
        keys += [*caps, *(k.assignment(clinic_id, a) for a in assignments)]
        owner = NumberOwner(clinic_id, client_ref).member()
        args: list[str | int] = [owner, clinic_id, client_ref, len(caps)]
        result = await self._erase(keys=keys, args=args)
        contacts, optouts, links, cap_keys, records, email = (int(n) for n in result)
        return {
            "contacts": contacts,
            "opt_outs": optouts,
            "number_links": links,
            "email_links": email,
            "caps": cap_keys,
            "assignments": records,
        }

    async def _contacts(self, clinic_id: str, client_ref: str) -> tuple[str | None, str | None]:
        """The hash of the client's SMS number (kept in its record or, in a record of an
        older release, derived from its preferences) and its email address."""
        data, hashed = await self.redis.hmget(
            self.keys.client(clinic_id, client_ref), ["data", "sms"]
        )
        prefs = ClientPreferencesChanged.model_validate_json(data) if data else None
        phone = prefs.contacts.sms if prefs else None
        number = redis_text(hashed) if hashed else (number_hash(phone) if phone else None)
        return number, prefs.contacts.email if prefs else None

    async def _cap_keys(self, clinic_id: str, client_ref: str) -> AsyncIterator[str]:
        match = glob_escape(self.keys.caps(clinic_id, client_ref)) + ":*"
        async for key in self.redis.scan_iter(match=match, count=1000):
            yield redis_text(key)
