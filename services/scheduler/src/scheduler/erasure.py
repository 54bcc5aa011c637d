"""A client's erasure (``client.erased``): everything the scheduler holds about it goes.

What names the client: its state hash (``c:<clinic>/<client>``: prefs, assignments,
timers), its timers in the shard's due set, its assignments' fire entries (they carry the
client ref), its member of the shard's roll schedule, and its member of the clinic's
policy-user sets. The shard's keys go in one script (``lua.ERASE``, one hash slot,
checked against the state's revision like a re-plan); the policy-user sets are global
keys, so they follow in a second step. ``seen`` idempotency keys name the event only.

Idempotent: a repeat finds nothing and reports zeros. A later assignment for the same
ref starts from an empty state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from scheduler import lua
from scheduler.replan import Replanner, client_key
from scheduler.state import ClientState
from scheduler.store import TimerStore
from shared.contracts import ClientErased
from shared.erasure import glob_escape
from shared.errors import TransientError

ATTEMPTS = 8


@dataclass(frozen=True)
class ErasureTargets:
    """What to delete besides the state hash: the client's timer members and the fire
    entries of its assignments."""

    timers: list[str]
    fire: list[str]


def erasure_targets(state: ClientState) -> ErasureTargets:
    """Pure: the client's timers and its assignments' fire fields (``<clinic>/<id>``)."""
    return ErasureTargets(timers=list(state.timers), fire=sorted(state.assignments))


async def erase_client(replanner: Replanner, event: ClientErased) -> dict[str, int]:
    """Delete the client's data; the counts per kind for the report."""
    key = client_key(event.clinic_id, event.client_ref)
    store = replanner.store
    # The replanner's per-client lock: a re-plan of this replica cannot interleave;
    # another replica's loses (or wins) the revision check.
    async with replanner._clients.hold(key):
        counts = await _erase_shard(store, key)
    counts["policy_memberships"] = await _forget_policy_user(store, event.clinic_id, key)
    return counts


async def _erase_shard(store: TimerStore, key: str) -> dict[str, int]:
    shard = store.keys.shard(store.keys.shard_of(key))
    keys = [shard.due, shard.fire, shard.clients, shard.client(key)]
    script = store.redis.register_script(lua.ERASE)
    for _ in range(ATTEMPTS):
        state = await store.load_client(key)
        targets = erasure_targets(state)
        change = json.dumps({"timers": targets.timers, "fire": targets.fire})
        result = await script(keys=keys, args=[state.rev, key, change])
        if isinstance(result, list):
            timers, fire, rolls, assignments, states = (int(n) for n in result)
            return {
                "client_state": states,
                "assignments": assignments,
                "timers": timers,
                "fire_entries": fire,
                "roll_entries": rolls,
            }
    raise TransientError(f"client {key} kept changing during its erasure; retrying later")


async def _forget_policy_user(store: TimerStore, clinic_id: str, key: str) -> int:
    """Remove the client from its clinic's policy-user sets (one per policy, found by a
    SCAN of ``policy-users:<clinic>/*``: erasure is rare, and the scan spares a second
    index). How many sets held it."""
    match = glob_escape(store.keys.policy_users(clinic_id + "/")) + "*"
    removed = 0
    async for found in store.redis.scan_iter(match=match, count=1000):
        removed += int(await store.redis.srem(found, key))
    return removed
