"""Never twice: a per-reminder record in Redis, claimed BEFORE the provider is called.

States of ``sent:<reminder_id>`` / ``sending:<reminder_id>``:
- ``sending`` is a lease (SET NX PX): the replica holding it calls the provider. A
  redelivery meanwhile finds the lease and retries later instead of sending again.
- ``sent`` records channel, provider and provider message id once the provider has
  accepted; every later delivery of that reminder is acknowledged without sending.
The at-least-once window: a crash after the provider accepted and before ``sent`` is
written leaves only the lease, which expires after ``send_lease_seconds``; the
redelivered reminder is then sent again. Everything else is exactly once.
Channels that failed permanently for a reminder are kept too, so a retry fails over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.contracts import Channel


@dataclass(frozen=True)
class SentRecord:
    channel: str
    provider: str
    provider_message_id: str


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Ledger:
    def __init__(self, redis: Redis, prefix: str, lease_seconds: int, ttl_seconds: int) -> None:
        self.redis, self.prefix = redis, prefix
        self.lease_ms, self.ttl = lease_seconds * 1000, ttl_seconds
        self._release = redis.register_script(_RELEASE)

    def _k(self, kind: str, reminder_id: str) -> str:
        return f"{self.prefix}:{kind}:{reminder_id}"

    async def sent(self, reminder_id: str) -> SentRecord | None:
        raw = await self.redis.get(self._k("sent", reminder_id))
        return SentRecord(**json.loads(raw)) if raw else None

    async def claim(self, reminder_id: str) -> str | None:
        """A lease token if this caller may send now, else None (someone else is)."""
        token = uuid.uuid4().hex
        ok = await self.redis.set(self._k("sending", reminder_id), token, nx=True, px=self.lease_ms)
        return token if ok else None

    async def lease_left(self, reminder_id: str) -> float:
        ms = await self.redis.pttl(self._k("sending", reminder_id))
        return max(ms, 0) / 1000

    async def release(self, reminder_id: str, token: str) -> None:
        await self._release(keys=[self._k("sending", reminder_id)], args=[token])

    async def record_sent(self, reminder_id: str, token: str, record: SentRecord) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self._k("sent", reminder_id), json.dumps(record.__dict__), ex=self.ttl)
        await pipe.execute()
        await self.release(reminder_id, token)

    async def mark_failed(self, reminder_id: str, channel: Channel) -> None:
        key = self._k("failed", reminder_id)
        await self.redis.sadd(key, channel.value)
        await self.redis.expire(key, self.ttl)

    async def failed_channels(self, reminder_id: str) -> set[Channel]:
        members = await self.redis.smembers(self._k("failed", reminder_id))
        return {Channel(m.decode() if isinstance(m, bytes) else m) for m in members}

    async def once(self, reminder_id: str, what: str) -> bool:
        """True the first time ``what`` happens for this reminder (e.g. a suppression event)."""
        return bool(await self.redis.set(self._k(what, reminder_id), "1", nx=True, ex=self.ttl))
