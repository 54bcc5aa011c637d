"""Never twice: a per-reminder record in Redis, claimed BEFORE the provider is called.

Keys name the clinic and the reminder (``sent:<clinic>/<reminder_id>``): ids are chosen
per clinic, so two clinics may use the same one. States of ``sent`` / ``sending``:
- ``sending`` is a lease (SET NX PX): the replica holding it calls the provider. A
  redelivery meanwhile finds the lease and retries later instead of sending again.
- ``sent`` records channel, provider and provider message id once the provider has
  accepted; every later delivery of that reminder is acknowledged without sending.
The at-least-once window: a crash after the provider accepted and before ``sent`` is
written leaves only the lease, which expires after ``send_lease_seconds``; the
redelivered reminder is then sent again. Everything else is exactly once.
Channels that failed permanently for a reminder are kept too, so a retry fails over.
Upgrade: ``sent:<reminder_id>`` records written before keys named the clinic are still
read (the scheduler's ids are hashes that include the clinic, so they never collide)
until they expire after ``dedupe_ttl_seconds``; nothing else is carried over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from shared.contracts import Channel


@dataclass(frozen=True)
class SentRecord:
    """What the provider accepted, and what the announcement of it carries: a redelivery
    announces the very same facts (the tracker builds the done link's record from them)."""

    channel: str
    provider: str
    provider_message_id: str
    occurrence_date: str | None = None  # ISO day
    purpose: str | None = None
    link_code: str | None = None
    link_expires_at: str | None = None  # ISO instant, UTC


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Ledger:
    def __init__(self, redis: Redis, prefix: str, lease_seconds: int, ttl_seconds: int) -> None:
        self.redis, self.prefix = redis, prefix
        self.lease_ms, self.ttl = lease_seconds * 1000, ttl_seconds
        self._release = redis.register_script(_RELEASE)

    def _k(self, kind: str, clinic_id: str, reminder_id: str) -> str:
        return f"{self.prefix}:{kind}:{clinic_id}/{reminder_id}"

    async def sent(self, clinic_id: str, reminder_id: str) -> SentRecord | None:
        legacy = f"{self.prefix}:sent:{reminder_id}"
        raw, old = await self.redis.mget(self._k("sent", clinic_id, reminder_id), legacy)
        found = raw or old
        return SentRecord(**json.loads(found)) if found else None

    async def claim(self, clinic_id: str, reminder_id: str) -> str | None:
        """A lease token if this caller may send now, else None (someone else is)."""
        token = uuid.uuid4().hex
        key = self._k("sending", clinic_id, reminder_id)
        ok = await self.redis.set(key, token, nx=True, px=self.lease_ms)
        return token if ok else None

    async def lease_left(self, clinic_id: str, reminder_id: str) -> float:
        ms = await self.redis.pttl(self._k("sending", clinic_id, reminder_id))
        return max(ms, 0) / 1000

    async def release(self, clinic_id: str, reminder_id: str, token: str) -> None:
        await self._release(keys=[self._k("sending", clinic_id, reminder_id)], args=[token])

    async def record_sent(
        self, clinic_id: str, reminder_id: str, token: str, record: SentRecord
    ) -> None:
        key = self._k("sent", clinic_id, reminder_id)
        await self.redis.set(key, json.dumps(asdict(record)), ex=self.ttl)
        await self.release(clinic_id, reminder_id, token)

    async def mark_failed(self, clinic_id: str, reminder_id: str, channel: Channel) -> None:
        key = self._k("failed", clinic_id, reminder_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, channel.value)
        pipe.expire(key, self.ttl)
        await pipe.execute()

    async def failed_channels(self, clinic_id: str, reminder_id: str) -> set[Channel]:
        members = await self.redis.smembers(self._k("failed", clinic_id, reminder_id))
        return {Channel(m.decode() if isinstance(m, bytes) else m) for m in members}

    async def once(self, clinic_id: str, reminder_id: str, what: str) -> bool:
        """True the first time ``what`` happens for this reminder (e.g. a suppression event)."""
        key = self._k(what, clinic_id, reminder_id)
        return bool(await self.redis.set(key, "1", nx=True, ex=self.ttl))
