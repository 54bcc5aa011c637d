"""Clients with nothing left to plan go: their state would otherwise stay for ever (every
client is re-planned each ``roll_after_hours``, so it never expires by itself).

A client is idle when no timer of it is pending and none of its assignments can bring
one again: each is cancelled, or its schedule ended (its last day, or a one-off's due
day, is past). The horizon roll checks a client before re-planning it; an idle one is
marked and no longer re-planned, and once it stayed idle ``IDLE_RETENTION`` (any event
for it in between makes it active again) its state, fire entries and roll entry are
deleted (``lua.FORGET_IDLE``), and its policy-user memberships of the policies its
records name. A membership a cancelled record no longer names is dropped the next time
its policy changes (``handlers._policy`` skips and forgets users without a state).

The retention also covers late events: a cancel or completion that comes after the end
still finds the record and its version (an assignment deleted earlier would take a stale
``activity.updated`` as new).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from scheduler import lua
from scheduler.erasure import erasure_targets
from scheduler.replan import Replanner, policy_key
from scheduler.state import ClientState, Status
from shared.contracts import ActivityAssigned

# As long as the notifier keeps the client's contacts and the tracker its assignments:
# an EHR sends preferences once and may assign again months later, and a shorter life
# would plan that assignment without the client's quiet hours and consent.
IDLE_RETENTION = timedelta(days=400)


def is_idle(state: ClientState, now: datetime) -> bool:
    """Pure: nothing pending and nothing that could be planned again."""
    now_ms = now.timestamp() * 1000
    if any(int(m.rsplit("|", 1)[1]) >= now_ms for m in state.timers):
        return False
    today = now.date()
    return all(_ended(rec.status, rec.assignment, today) for rec in state.assignments.values())


def _ended(status: Status, assignment: ActivityAssigned | None, today: date) -> bool:
    if status is Status.CANCELLED:
        return True
    if assignment is None:
        return False  # a lifecycle event waiting for its assignment
    last = assignment.schedule.end or assignment.schedule.due
    return last is not None and last < today


async def forget_if_idle(
    replanner: Replanner, key: str, now: datetime, keep: timedelta = IDLE_RETENTION
) -> bool:
    """True when the client is idle (kept marked, or deleted): the roll skips it."""
    store = replanner.store
    shard = store.keys.shard(store.keys.shard_of(key))
    keys = [shard.due, shard.fire, shard.clients, shard.client(key)]
    async with replanner._clients.hold(key):
        state = await store.load_client(key)
        if state.rev == 0 or not is_idle(state, now):
            return False
        targets = erasure_targets(state)
        change = json.dumps({"timers": targets.timers, "fire": targets.fire})
        now_ms = int(now.timestamp() * 1000)
        next_check = now_ms + int(replanner.roll_after.total_seconds() * 1000)
        keep_ms = int(keep.total_seconds() * 1000)
        script = store.redis.register_script(lua.FORGET_IDLE)
        args: list[str | int] = [state.rev, key, change, now_ms, keep_ms, next_check]
        result = int(await script(keys=keys, args=args))
    if result == 1:
        policies = {
            policy_key(r.assignment.clinic_id, r.assignment.policy_id)
            for r in state.assignments.values()
            if r.assignment is not None
        }
        for pkey in policies:
            await store.redis.srem(store.keys.policy_users(pkey), key)
    return result >= 0
