"""The assignment states of ``assignments`` in Redis: one hash per clinic and assignment,
in its client's hash slot (``keys.py``: ``<p>:{<p>:c:<clinic>/<client>}:assignment:<id>``)
with ``rev`` and ``data`` (JSON), so a send reads and re-checks it with the client's keys.

A change is read, decided by a pure ``apply_*`` and written back in one script that
checks ``rev`` (optimistic concurrency, as the scheduler's store does): two replicas
applying events to the same assignment at once cannot lose one. A send checks ``rev``
too, right before its provider call (``lua.RESERVE``): a changed record is decided
again. The record expires
``STATE_TTL_SECONDS`` after its last change: longer than any reminder is held in flight.
"""

from __future__ import annotations

import json

from notifier.assignments import AssignmentState, Change
from notifier.keys import Keys
from shared.errors import TransientError
from shared.service import RedisClient

STATE_TTL_SECONDS = 60 * 86400
_ATTEMPTS = 8

# KEYS[1] the record. ARGV: expected rev, JSON state, TTL s. 1 if written, 0 if changed since.
_COMMIT = """
local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rev', rev + 1, 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class AssignmentStore:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis, self.keys = redis, Keys(prefix)
        self._commit = redis.register_script(_COMMIT)

    def _k(self, clinic_id: str, client_ref: str, assignment_id: str) -> str:
        return self.keys.assignment(clinic_id, client_ref, assignment_id)

    async def _load(self, key: str) -> tuple[int, AssignmentState | None]:
        rev, data = await self.redis.hmget(key, ["rev", "data"])
        state = AssignmentState.from_json(json.loads(data)) if data else None
        return int(rev or 0), state

    async def state(
        self, clinic_id: str, client_ref: str, assignment_id: str
    ) -> AssignmentState | None:
        return (await self._load(self._k(clinic_id, client_ref, assignment_id)))[1]

    async def update(
        self, clinic_id: str, client_ref: str, assignment_id: str, change: Change
    ) -> bool:
        """Apply ``change`` (pure: None means nothing to change); True if it was written."""
        key = self._k(clinic_id, client_ref, assignment_id)
        for _ in range(_ATTEMPTS):
            rev, state = await self._load(key)
            new = change(state or AssignmentState())
            if new is None:
                return False
            data = json.dumps(new.to_json())
            if await self._commit(keys=[key], args=[rev, data, STATE_TTL_SECONDS]):
                return True
        raise TransientError("assignment record kept changing", retry_after=1.0)
