"""The Redis adapter: client state, policies and the sharded timers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from scheduler import lua
from scheduler.keys import Keys
from scheduler.state import AssignmentRecord, ClientState, Prefs
from shared.contracts import ClinicPolicy
from shared.contracts.policy import ParsedPolicies
from shared.planning.ids import pack_members, unpack_members

SEEN_TTL_SECONDS = 7 * 24 * 3600

# Every multi-key call stays in one hash slot (see keys.py), so a cluster client works too.
RedisClient = Redis | RedisCluster


# Published timers not acked yet: (the lease they were claimed with, members).
Acks = tuple[int, list[str]]
# An input event as its idempotency key names it: (clinic id, event id).
EventRef = tuple[str, str]


class AlreadyHandled(Exception):
    """The event was handled before (its id is marked seen): nothing to do."""


@dataclass(frozen=True)
class Claimed:
    redis_now_ms: int
    lease_ms: int
    members: list[str]
    infos: list[bytes | None]
    # When the shard needs a look again (its next timer less the fire-ahead, or a lease's
    # end), by the server's clock; None: nothing in it.
    next_look_ms: int | None
    scanned: int = 0  # timers looked at (claimed or left leased): a full batch means more


class TimerStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._commit = redis.register_script(lua.COMMIT)
        self._claim = redis.register_script(lua.CLAIM)
        self._ack = redis.register_script(lua.ACK)
        self._policies = ParsedPolicies()

    # -- client state -------------------------------------------------------------
    async def load_client(
        self, client_key: str, event: EventRef | None = None, uses: Iterable[str] = ()
    ) -> ClientState:
        """The client's state. With ``event``, raises ``AlreadyHandled`` if that event was
        marked seen; ``uses`` (policy keys) records the client as a user of those policies
        before anything is committed. All in one round trip: each round trip costs about a
        tenth of an event's CPU (redis-py's per-command overhead, not Redis)."""
        client = self.keys.shard(self.keys.shard_of(client_key)).client(client_key)
        pipe = self.redis.pipeline(transaction=False)
        if event is not None:
            pipe.exists(self.keys.seen(*event))
        for policy_key in uses:
            pipe.sadd(self.keys.policy_users(policy_key), client_key)
        pipe.hgetall(client)
        *before, raw = await pipe.execute()
        if event is not None and before[0]:
            raise AlreadyHandled(event)
        state = ClientState(client_key=client_key, rev=int(raw.get(b"rev", b"0")))
        for field, value in raw.items():
            name = field.decode()
            if name == "prefs":
                state.prefs = Prefs.model_validate_json(value)
            elif name.startswith("a:"):
                state.assignments[name[2:]] = AssignmentRecord.model_validate_json(value)
            elif name == "timers":
                state.timers = unpack_members(value.decode())
            elif name == "sent":
                state.sent = [int(t) for t in value.split(b",")]
            elif name == "last":
                state.last_event = value.decode()
        return state

    async def commit(
        self,
        state: ClientState,
        timers: list[tuple[str, int]],
        fire: dict[str, str],
        roll_at: datetime,
    ) -> bool:
        """Store the state and its new timers; False if the client changed meanwhile."""
        shard = self.keys.shard(self.keys.shard_of(state.client_key))
        # No field of a record has a non-None default behind a None value, so leaving the
        # Nones out (a fifth of a record) reads back the same.
        hset = {
            f"a:{k}": r.model_dump_json(exclude_none=True) for k, r in state.assignments.items()
        }
        if state.prefs is not None:
            hset["prefs"] = state.prefs.model_dump_json()
        if state.sent:
            hset["sent"] = ",".join(map(str, state.sent))
        if state.last_event is not None:
            hset["last"] = state.last_event
        planned = {m for m, _ in timers}
        change = {
            "client": state.client_key,
            "timers": [[m, str(s)] for m, s in timers],
            "remove": [m for m in state.timers if m not in planned],
            "packed": pack_members(m for m, _ in timers),
            # Pairs, not objects: cjson cannot tell an empty object from an empty list.
            "hset": list(hset.items()),
            "hdel": [] if state.sent else ["sent"],
            "fire_set": list(fire.items()),
            "fire_del": [k for k in state.assignments if k not in fire],
        }
        keys = [shard.due, shard.fire, shard.clients, shard.client(state.client_key)]
        args: list[str | int] = [state.rev, int(roll_at.timestamp() * 1000), json.dumps(change)]
        result = await self._commit(keys=keys, args=args)
        return int(result) >= 0

    async def clients_to_roll(self, shard_no: int, now: datetime, limit: int) -> list[str]:
        shard = self.keys.shard(shard_no)
        now_ms = int(now.timestamp() * 1000)
        raw = await self.redis.zrangebyscore(shard.clients, "-inf", now_ms, start=0, num=limit)
        return [cast(bytes, m).decode() for m in raw]

    # -- policies ---------------------------------------------------------------------
    async def policy(self, policy_key: str) -> ClinicPolicy | None:
        raw = cast(bytes | None, await self.redis.get(self.keys.policy(policy_key)))
        if not raw:
            return None
        return self._policies.parse(raw)

    async def put_policy(self, policy_key: str, policy: ClinicPolicy, event_id: str) -> None:
        """Store the policy, and which event stored it (see ``stored_by``)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.policy(policy_key), policy.model_dump_json())
        pipe.set(self.keys.policy_source(policy_key), event_id)
        await pipe.execute()

    async def stored_by(self, policy_key: str) -> str | None:
        """The id of the event that stored the current policy (None before this was kept)."""
        raw = cast(bytes | None, await self.redis.get(self.keys.policy_source(policy_key)))
        return raw.decode() if raw else None

    async def policy_users(self, policy_key: str) -> list[str]:
        key = self.keys.policy_users(policy_key)
        return [m.decode() async for m in self.redis.sscan_iter(key, count=500)]

    # -- idempotency --------------------------------------------------------------------
    async def seen(self, clinic_id: str, event_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.seen(clinic_id, event_id)))

    async def mark_seen(self, clinic_id: str, event_id: str) -> None:
        await self.redis.set(self.keys.seen(clinic_id, event_id), b"1", ex=SEEN_TTL_SECONDS)

    # -- timers ---------------------------------------------------------------------------
    async def claim(
        self,
        shard_no: int,
        limit: int,
        lease_ms: int,
        ack: Acks | None = None,
        *,
        ahead_ms: int = 0,
    ) -> Claimed:
        """Due timers, and those due within ``ahead_ms`` nobody claimed yet, leased for
        ``lease_ms``; first acks ``ack`` (lease, members)."""
        shard = self.keys.shard(shard_no)
        acked_lease, acked = ack or (0, [])
        args: list[str | int] = [limit, lease_ms, ahead_ms, acked_lease, *acked]
        now, lease, members, infos, nxt, scanned = cast(
            list[Any], await self._claim(keys=[shard.due, shard.fire], args=args)
        )
        return Claimed(
            redis_now_ms=int(now),
            lease_ms=int(lease),
            members=[m.decode() for m in members],
            infos=list(infos),
            next_look_ms=int(float(nxt)) if nxt is not None else None,
            scanned=int(scanned),
        )

    async def ack(self, shard_no: int, lease_ms: int, members: list[str]) -> int:
        if not members:
            return 0
        shard = self.keys.shard(shard_no)
        return int(await self._ack(keys=[shard.due], args=[lease_ms, *members]))

    async def backlog(self) -> tuple[int, int, datetime | None]:
        """(pending, overdue, next due) over every shard."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for shard in self.keys.shards():
            pipe.zcard(shard.due)
            pipe.zcount(shard.due, "-inf", now_ms)
            pipe.zrange(shard.due, 0, 0, withscores=True)
        out = await pipe.execute()
        pending = sum(int(x) for x in out[0::3])
        overdue = sum(int(x) for x in out[1::3])
        firsts = [int(first[0][1]) for first in out[2::3] if first]
        nxt = datetime.fromtimestamp(min(firsts) / 1000, UTC) if firsts else None
        return pending, overdue, nxt

    async def wake_others(self) -> None:
        await self.redis.publish(self.keys.wake_channel, b"1")
