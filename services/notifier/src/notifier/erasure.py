"""A client's erasure (``client.erased``): everything the notifier holds about it goes.

What names the client (``keys.py``): every key under
``<p>:{<p>:c:<clinic>/<client>}`` (its preferences: contacts, consent, language; its own
opt-outs; its email bounce hold; its cap keys; its assignment records and their index;
the ledgers of its reminders: ``sent``, ``sending``, ``failed``, once-claims), found by a
SCAN of that tag (erasure is rare) and deleted in one script on the client's slot; and
the entries of its SMS number and email address that point at it, each deleted in a
script on that number's or address's slot, in the same round trip: its member of the
number's ``owners``, the legacy ``owner`` and the number's ``last`` reminder when they
name it, its member of the address's ``owners``.

What stays, because it does not name the client: the number-level STOP and "this clinic
texted the number" flags (a hash of the number, needed to honour STOP). A number the
client gave before its current one keeps its ``last`` (naming the client) until that
expires (``MESSAGE_MAP_TTL``, 30 days).

After the erasure the client is unknown: a reminder on its way finds no contact and is
suppressed (its ledger gone with the rest, nothing can be sent twice: there is nobody to
send to); an old unsubscribe link changes nothing (``unsubscribe.py``); an SMS reply
from its number finds no owner and no last reminder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from notifier.directory import NumberOwner, address_hash
from notifier.keys import Keys, number_hash
from shared.contracts import ClientErased, ClientPreferencesChanged
from shared.erasure import glob_escape
from shared.service import RedisClient, eval_together, redis_text

# The client's slot. KEYS: 1 preferences, 2 opt-outs, 3 email bounce hold, then its cap
# keys (ARGV[1] of them), then its assignment records (ARGV[2] of them), then the rest of
# its keys (the assignment index, reminder ledgers). Returns {contacts, opt-outs, bounce
# hold, cap keys, assignment records}.
ERASE = """
local optouts = redis.call('SCARD', KEYS[2])
redis.call('DEL', KEYS[2])
local contacts = redis.call('DEL', KEYS[1])
local held = redis.call('DEL', KEYS[3])
local caps, assignments = 0, 0
local last_cap = 3 + tonumber(ARGV[1])
local last_assignment = last_cap + tonumber(ARGV[2])
for i = 4, last_cap do caps = caps + redis.call('DEL', KEYS[i]) end
for i = last_cap + 1, last_assignment do
  assignments = assignments + redis.call('DEL', KEYS[i])
end
for i = last_assignment + 1, #KEYS do redis.call('DEL', KEYS[i]) end
return {contacts, optouts, held, caps, assignments}
"""
# The number's slot. KEYS: owners, owner (legacy), last reminder. ARGV: the owner member
# (JSON), clinic, client. Returns the links removed.
ERASE_NUMBER = """
local links = redis.call('SREM', KEYS[1], ARGV[1])
local function names_client(raw)
  if not raw then return false end
  local ok, v = pcall(cjson.decode, raw)
  return ok and type(v) == 'table' and v.clinic_id == ARGV[2] and v.client_ref == ARGV[3]
end
for i = 2, 3 do
  if names_client(redis.call('GET', KEYS[i])) then links = links + redis.call('DEL', KEYS[i]) end
end
return links
"""
# The address's slot. KEYS: owners. ARGV: the owner member. Returns the links removed.
ERASE_ADDRESS = "return redis.call('SREM', KEYS[1], ARGV[1])"


class Erasure:
    """Deletes a client's data: one load (its number, its keys), one round trip of
    scripts (its slot, its number's, its address's)."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis, self.keys = redis, Keys(prefix)
        self._erase = redis.register_script(ERASE)
        self._erase_number = redis.register_script(ERASE_NUMBER)
        self._erase_address = redis.register_script(ERASE_ADDRESS)

    async def erase(self, event: ClientErased) -> dict[str, int]:
        clinic_id, client_ref = event.clinic_id, event.client_ref
        k = self.keys
        number, address = await self._contacts(clinic_id, client_ref)
        own = [k.client(clinic_id, client_ref), k.optout(clinic_id, client_ref)]
        own.append(k.email_held(clinic_id, client_ref))
        found = sorted({key async for key in self._client_keys(clinic_id, client_ref)} - set(own))
        caps_base, records_base = (
            k.caps(clinic_id, client_ref),
            k.assignment(clinic_id, client_ref, ""),
        )
        caps = [key for key in found if key.startswith(caps_base + ":")]
        records = [key for key in found if key.startswith(records_base)]
        rest = [key for key in found if key not in caps and key not in records]
        owner = NumberOwner(clinic_id, client_ref).member()
        numbered = [k.number_hashed(kind, number or "-") for kind in ("owners", "owner", "last")]
        owners = k.address_hashed("owners", address_hash(address) if address else "-")
        result, links, email = await eval_together(
            self.redis,
            [
                (self._erase, [*own, *caps, *records, *rest], [len(caps), len(records)]),
                (self._erase_number, numbered, [owner, clinic_id, client_ref]),
                (self._erase_address, [owners], [owner]),
            ],
        )
        contacts, optouts, held, cap_keys, assignments = (int(n) for n in result)
        return {
            "contacts": contacts,
            "opt_outs": optouts,
            "number_links": int(links),
            "email_links": int(email) + held,
            "caps": cap_keys,
            "assignments": assignments,
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

    async def _client_keys(self, clinic_id: str, client_ref: str) -> AsyncIterator[str]:
        match = glob_escape(self.keys.client_tag(clinic_id, client_ref)) + ":*"
        async for key in self.redis.scan_iter(match=match, count=1000):
            yield redis_text(key)
