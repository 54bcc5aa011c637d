"""A client's contact keys expire when nothing about the client happens for a long time.

Its preferences hash (``keys.py``), its own opt-outs, the owners set of
its SMS number and the clinic's "texted this number" flag had no TTL: a client whose
clinic stopped sending anything kept them for ever. Each gets ``CONTACT_TTL_SECONDS``
(400 days: longer than any assignment's gap between two reminders, a year of yearly
activities included), refreshed whenever the client's preferences or consent change and
at most once a day per replica while reminders for the client are handled. An erasure
removes them at once (``erasure.py``).
"""

from __future__ import annotations

import weakref
from datetime import UTC, date, datetime

from redis.commands.core import AsyncScript

from notifier.keys import Keys
from shared.service import RedisClient, eval_together, redis_text

CONTACT_TTL_SECONDS = 400 * 86_400
MEMO_MAX = 100_000  # clients whose refresh today a replica remembers

# The client's slot. KEYS: the client's preferences, its opt-outs. ARGV: ttl. Returns the
# hash of its SMS number ('' or nil: none), whose keys are then touched in their slot.
TOUCH = """
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('HGET', KEYS[1], 'sms')
"""
# The number's slot. KEYS: its owners, "this clinic texted it". ARGV: ttl.
TOUCH_NUMBER = """
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


class ContactRetention:
    def __init__(self, ttl: int = CONTACT_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._touched: dict[str, date] = {}
        self._scripts: weakref.WeakKeyDictionary[RedisClient, tuple[AsyncScript, AsyncScript]]
        self._scripts = weakref.WeakKeyDictionary()

    def _registered(self, redis: RedisClient) -> tuple[AsyncScript, AsyncScript]:
        """The two scripts on ``redis``: sent by their SHA, with the handlers' other round
        trips (``eval_together``), not as a script body each time."""
        if (found := self._scripts.get(redis)) is None:
            found = (redis.register_script(TOUCH), redis.register_script(TOUCH_NUMBER))
            self._scripts[redis] = found
        return found

    async def touch(self, redis: RedisClient, keys: Keys, clinic_id: str, client_ref: str) -> None:
        """Give the client's contact keys their full lifetime again (two round trips: the
        number's keys are named by the client's record)."""
        touch, touch_number = self._registered(redis)
        names = [keys.client(clinic_id, client_ref), keys.optout(clinic_id, client_ref)]
        [number] = await eval_together(redis, [(touch, names, [self.ttl])])
        if number:
            hashed = redis_text(number)
            owned = [keys.number_hashed("owners", hashed), keys.seen_hashed(clinic_id, hashed)]
            await eval_together(redis, [(touch_number, owned, [self.ttl])])

    async def touch_daily(
        self, redis: RedisClient, keys: Keys, clinic_id: str, client_ref: str
    ) -> None:
        """``touch``, at most once a day per client on this replica (the reminder path)."""
        today, who = datetime.now(UTC).date(), f"{clinic_id}/{client_ref}"
        if self._touched.get(who) == today:
            return
        if len(self._touched) >= MEMO_MAX:
            self._touched.clear()
        self._touched[who] = today
        await self.touch(redis, keys, clinic_id, client_ref)


CONTACTS = ContactRetention()
"""The process's one (its daily memo is per replica)."""
