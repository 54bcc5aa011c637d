"""One-off upgrade: rename the keys of the release before hash tags to the tagged layout.

Run it on the single Redis the previous release used, with the notifiers stopped and
before the new release starts (``docs/operations.md``, Upgrading); moving to a Redis
Cluster afterwards imports the renamed keys as they are (``redis-cli --cluster import``).

    python -m notifier.migrate       # with the notifier's NOTIFIER_* settings

What moves (``keys.py``), each key renamed with its TTL, the new name winning when it
exists already (the old one is then dropped), so running it twice is harmless:
- per client, found from each preferences record (which names its clinic and client):
  the record (with its SMS number's hash, when an older release did not keep it), its
  opt-outs, its email bounce hold, its assignment index and the assignment records it
  names; cap keys (``{<p>:caps:<clinic>/<client>}:...``, their ``held`` values naming
  the new sets). Opt-outs and cap keys of a client without a record move too when their
  names split one way only.
- per clinic: every policy (``policy:<clinic>:<id>``, placed by the id in its data) and
  the latest one, into the clinic's policies hash.
- per number and address: ``number:{owners,owner,stop,last}:<hash>``,
  ``number:seen:<clinic>:<hash>``, ``email:{owners,stop}:<hash>``.
What does not: the per-reminder ledgers (``sent``, ``sending``, ``failed``, once-claims;
their names lack the client), circuits and rate buckets (they start afresh), assignment
records no index names (they expire within 60 days). A ledger left behind only matters
for a reminder the previous release sent and that is delivered again after the upgrade:
drain ``notifier.reminders`` before upgrading (the scheduler stopped) and none is.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from redis.asyncio import Redis

from notifier.app import NAME
from notifier.keys import Keys, number_hash
from notifier.settings import NotifierSettings
from shared.contracts import ClientPreferencesChanged, ClinicPolicy
from shared.erasure import glob_escape
from shared.service import connect_redis, redis_text

HASH_LENGTH = 32  # number_hash's


@dataclass
class Migration:
    redis: Redis
    keys: Keys
    moved: dict[str, int] = field(default_factory=dict)

    def _old(self, *parts: str) -> str:
        return ":".join((self.keys.prefix, *parts))

    async def _scan(self, *parts: str) -> list[str]:
        match = glob_escape(self._old(*parts)) + ":*"
        return [redis_text(k) async for k in self.redis.scan_iter(match=match, count=1000)]

    async def _move(self, old: str, new: str, kind: str) -> None:
        if not await self.redis.exists(old):
            return
        if not await self.redis.renamenx(old, new):
            await self.redis.delete(old)  # the new layout's is newer
        self.moved[kind] = self.moved.get(kind, 0) + 1

    async def run(self) -> dict[str, int]:
        for old in await self._scan("client"):
            await self._client(old)
        for old in await self._scan("optout"):
            if (owner := _split_once(old.removeprefix(self._old("optout") + ":"))) is not None:
                await self._move(old, self.keys.optout(*owner), "opt_outs")
        await self._caps()
        await self._policies()
        await self._numbers()
        return self.moved

    async def _client(self, old: str) -> None:
        raw = await self.redis.hget(old, "data")
        if raw is None:
            return
        prefs = ClientPreferencesChanged.model_validate_json(raw)
        clinic, client = prefs.clinic_id, prefs.client_ref
        if prefs.contacts.sms and not await self.redis.hexists(old, "sms"):
            await self.redis.hset(old, "sms", number_hash(prefs.contacts.sms))
        k = self.keys
        await self._move(old, k.client(clinic, client), "clients")
        await self._move(self._old("optout", clinic, client), k.optout(clinic, client), "opt_outs")
        held = self._old("email", "held", clinic, client)
        await self._move(held, k.email_held(clinic, client), "email_holds")
        index = self._old("assignments-of", clinic, client)
        for assignment in await self.redis.smembers(index):
            name = redis_text(assignment)
            old_record = self._old("assignment", f"{clinic}/{name}")
            await self._move(old_record, k.assignment(clinic, client, name), "assignments")
        await self._move(index, k.assignments_of(clinic, client), "assignment_indexes")

    async def _caps(self) -> None:
        head = f"{{{self.keys.prefix}:caps:"
        match = glob_escape(head) + "*"
        found = [redis_text(k) async for k in self.redis.scan_iter(match=match, count=1000)]
        for old in found:
            owner, _, rest = old.removeprefix(head).partition("}:")
            clinic, _, client = owner.partition("/")
            new = f"{self.keys.caps(clinic, client)}:{rest}"
            if rest.startswith("held:") and (sets := await self.redis.get(old)) is not None:
                renamed = [
                    f"{self.keys.caps(clinic, client)}:{name.partition('}:')[2]}"
                    for name in json.loads(sets)
                ]
                await self.redis.set(old, json.dumps(renamed), keepttl=True)
            await self._move(old, new, "caps")

    async def _policies(self) -> None:
        for old in await self._scan("policy"):
            raw = await self.redis.hmget(old, ["version", "data"])
            if raw[1] is None:
                continue
            policy = ClinicPolicy.model_validate_json(raw[1])
            clinic = old.removeprefix(self._old("policy") + ":").removesuffix(
                f":{policy.policy_id}"
            )
            target = self.keys.policies(clinic)
            version = await self.redis.hget(target, f"v:{policy.policy_id}")
            if version is None or int(version) < int(raw[0] or 0):
                await self.redis.hset(target, f"d:{policy.policy_id}", raw[1])
                await self.redis.hset(target, f"v:{policy.policy_id}", raw[0] or 0)
            await self.redis.delete(old)
            self.moved["policies"] = self.moved.get("policies", 0) + 1
        for old in await self._scan("policy-latest"):
            clinic = old.removeprefix(self._old("policy-latest") + ":")
            latest = await self.redis.get(old)
            if latest is not None:
                await self.redis.hsetnx(self.keys.policies(clinic), "latest", latest)
            await self.redis.delete(old)

    async def _numbers(self) -> None:
        for old in await self._scan("number"):
            kind, _, hashed = old.removeprefix(self._old("number") + ":").rpartition(":")
            if len(hashed) != HASH_LENGTH:
                continue
            await self._move(old, self.keys.number_hashed(kind, hashed), "number_keys")
        for kind in ("owners", "stop"):
            for old in await self._scan("email", kind):
                hashed = old.rpartition(":")[2]
                await self._move(old, self.keys.address_hashed(kind, hashed), "email_keys")


def _split_once(rest: str) -> tuple[str, str] | None:
    """``<clinic>:<client>`` when it splits one way only (ids may hold ``:``)."""
    if rest.count(":") != 1:
        return None
    clinic, client = rest.split(":")
    return clinic, client


async def _main() -> None:
    settings = NotifierSettings()
    redis = connect_redis(settings.redis_url)
    try:
        moved = await Migration(redis, Keys(f"{settings.redis_prefix}:{NAME}")).run()
        print(json.dumps(moved, sort_keys=True))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_main())
