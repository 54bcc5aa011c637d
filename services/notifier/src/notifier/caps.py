"""Caps count what was sent: at most ``caps.per_day`` / ``caps.per_week`` messages per
client (clinic + client_ref) per LOCAL day and ISO week, across every activity and
purpose, encouragements included.

The scheduler applies caps when it plans, but a plan is not a send: a completion frees
planned slots, a re-plan moves reminders. So the notifier reserves a slot right before
sending, in one script that adds the reminder to the day's and the week's set only if
both are under the cap. A reminder that already holds a slot keeps it (a redelivery, a
retry after a provider outage, even on the next day) and counts once. A reservation
is given back when nothing was sent in the end.

Keys (one hash slot per client, so the script is valid on Redis Cluster):
``{<prefix>:caps:<clinic>/<client>}:d:<YYYY-MM-DD>``, ``...:w:<YYYY-Www>`` (sets of
reminder ids) and ``...:held:<reminder id>`` (which day and week it counted in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from shared.contracts import Caps

DAY_TTL_SECONDS = 3 * 86400  # a local day ends at most ~26 h after it starts in UTC
WEEK_TTL_SECONDS = 9 * 86400

# KEYS: day set, week set, held. ARGV: reminder id, per day, per week, day TTL, week TTL,
# held TTL. 1: counted (now or before), 0: over a cap (nothing changed).
_RESERVE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
redis.call('SET', KEYS[3], cjson.encode({KEYS[1], KEYS[2]}), 'EX', tonumber(ARGV[6]))
return 1
"""
# KEYS: held, day set, week set (as read from held). ARGV: reminder id, held as read.
# Gives the slot back where it was counted, unless the hold changed meanwhile.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class Period:
    day: str  # YYYY-MM-DD, the client's local day
    week: str  # YYYY-Www, its ISO week


def period(now: datetime, timezone: str) -> Period:
    """The client's local day and ISO week at ``now``."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    year, week, _ = local.isocalendar()
    return Period(local.isoformat(), f"{year}-W{week:02d}")


class CapBook:
    def __init__(self, redis: Redis, prefix: str, held_ttl_seconds: int) -> None:
        self.redis, self.prefix, self.held_ttl = redis, prefix, held_ttl_seconds
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _base(self, clinic_id: str, client_ref: str) -> str:
        return f"{{{self.prefix}:caps:{clinic_id}/{client_ref}}}"

    async def reserve(
        self, clinic_id: str, client_ref: str, reminder_id: str, at: Period, caps: Caps
    ) -> bool:
        """True if the reminder may be sent (it holds a slot now); False over a cap."""
        base = self._base(clinic_id, client_ref)
        keys = [f"{base}:d:{at.day}", f"{base}:w:{at.week}", f"{base}:held:{reminder_id}"]
        limits = [caps.per_day, caps.per_week, DAY_TTL_SECONDS, WEEK_TTL_SECONDS, self.held_ttl]
        return bool(await self._reserve(keys=keys, args=[reminder_id, *limits]))

    async def release(self, clinic_id: str, client_ref: str, reminder_id: str) -> None:
        held_key = f"{self._base(clinic_id, client_ref)}:held:{reminder_id}"
        held = await self.redis.get(held_key)
        if held is None:
            return
        day, week = json.loads(held)
        await self._release(keys=[held_key, day, week], args=[reminder_id, held])
