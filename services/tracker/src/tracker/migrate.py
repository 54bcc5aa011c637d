"""One-off upgrade: move records kept before keys were scoped by clinic to their clinic.

Until then assignments and completions were keyed by the assignment id alone
(``assignment:<id>``, ``completions:<id>``). Each assignment record names its clinic, so
it moves to ``assignment:<clinic>/<id>`` with its completions, client index and active
entry; policies ``policy:<clinic>:<id>`` move to ``policy:<clinic>/<id>`` when that split
is the only one (no ``:`` in either id; until moved, the store still reads them). What
the new layout already holds wins, and the old keys are deleted, so running it twice is
harmless. Delivery state and once-only
claims are not moved: they expire within their retention (see the README).

    python -m tracker.migrate        # with the tracker's TRACKER_* settings

Moving to a Redis Cluster (``TRACKER_REDIS_CLUSTER=true``): there each clinic's keys
are one slot, ``{<namespace>:bs:tracker/<clinic>}:...``, and the global ones
``{<namespace>:bs:tracker}:...`` (``keys.Keys.spread``), so the keys are copied across
under those names, each with its value (DUMP/RESTORE) and its remaining TTL (``active``
split by clinic); a key the cluster already holds is kept (the running tracker's wins),
so running it again copies only what is new. Stop the tracker (or let its queue wait)
for the copy, then start it on the cluster:

    python -m tracker.migrate --to-cluster redis://<a cluster node>:6379/0

A tracker that ran on a cluster with every key in one slot (the release before) moves
its keys to the spread layout in place (each key copied, then deleted from the old
name; run it with the tracker stopped):

    python -m tracker.migrate --spread redis://<a cluster node>:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from shared.erasure import glob_escape
from shared.service import RedisClient, redis_text
from tracker.app import NAME
from tracker.keys import Keys, scoped, unscoped
from tracker.records import AssignmentRecord
from tracker.runtime import retention_for
from tracker.settings import TrackerSettings
from tracker.store import DAY, TrackerStore


async def _legacy(store: TrackerStore, kind: str) -> list[str]:
    """The ids after ``<kind>:`` of keys written before scoping (no ``/`` in them)."""
    head = store.key(kind, "")
    keys = [redis_text(k) async for k in store.redis.scan_iter(match=head + "*", count=1000)]
    return [k.removeprefix(head) for k in keys if "/" not in k.removeprefix(head)]


async def _assignment(store: TrackerStore, assignment_id: str) -> None:
    old = store.key("assignment", assignment_id)
    raw = await store.redis.get(old)
    if raw is None:
        return
    record = AssignmentRecord.model_validate_json(raw)
    clinic_id = record.clinic_id

    # Only where the new layout holds nothing yet (compare-and-set against "none").
    await store.commit_assignment("", record)
    old_done = store.key("completions", assignment_id)
    for day, value in (await store.redis.hgetall(old_done)).items():
        new_done = store.key("completions", scoped(clinic_id, assignment_id))
        await store.redis.hsetnx(new_done, redis_text(day), value)
        await store.redis.expire(new_done, store.retention.assignment_days * DAY)
    await store.redis.delete(old, old_done)


async def _policy(store: TrackerStore, legacy: str) -> bool:
    clinic_id, _, policy_id = legacy.partition(":")
    if not policy_id or ":" in policy_id:
        return False  # ambiguous: whose it is cannot be told
    old = store.key("policy", legacy)
    raw = await store.redis.get(old)
    if raw is None:
        return False
    await store.redis.set(store.key("policy", scoped(clinic_id, policy_id)), raw, nx=True)
    await store.redis.delete(old)
    return True


async def migrate(store: TrackerStore) -> dict[str, int]:
    """Move what can be moved; returns how many of each kind moved."""
    assignments = await _legacy(store, "assignment")
    for assignment_id in assignments:
        await _assignment(store, assignment_id)
    policies = [p for p in await _legacy(store, "policy") if await _policy(store, p)]
    # Client indexes are rebuilt with the assignments; the old ones are no longer read.
    for legacy in await _legacy(store, "client"):
        await store.redis.delete(store.key("client", legacy))
    return {"assignments": len(assignments), "policies": len(policies)}


COPY_BATCH = 500


async def copy_to_cluster(
    source: RedisClient, source_prefix: str, target: RedisCluster, base: str
) -> dict[str, int]:
    """Every key under ``source_prefix`` on ``source`` into ``target`` under the cluster's
    layout (``Keys(base, spread=True)``: each clinic's keys in its own slot), with its
    TTL; keys the cluster holds already are kept. ``active`` is split into its clinics'
    sets. A key no longer in the layout is counted ``skipped`` (run ``migrate`` first).
    ``source`` may be the cluster itself holding the one-slot layout of the release
    before (``{<base>}:...``): each key moved is then deleted there."""
    copy = _Copy(source, source_prefix, target, Keys(base, spread=True), moving=source is target)
    batch: list[str] = []
    match = glob_escape(source_prefix) + ":*"
    async for raw in source.scan_iter(match=match, count=COPY_BATCH):
        batch.append(redis_text(raw))
        if len(batch) >= COPY_BATCH:
            await copy.batch(batch)
            batch = []
    await copy.batch(batch)
    return copy.counts


@dataclass
class _Copy:
    source: RedisClient
    source_prefix: str
    target: RedisCluster
    keys: Keys
    moving: bool
    counts: dict[str, int] = field(
        default_factory=lambda: {"copied": 0, "kept": 0, "skipped": 0, "active_entries": 0}
    )

    async def batch(self, names: list[str]) -> None:
        async with self.source.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.pttl(name)
                pipe.dump(name)
            rows = await pipe.execute()
        for name, ttl, value in zip(names, rows[::2], rows[1::2], strict=True):
            if value is None or ttl == -2:  # expired since the scan
                continue
            rest = name.removeprefix(self.source_prefix + ":")
            if rest == "active":
                await self._split_active(name)
            elif not await self._restore(rest, name, max(int(ttl), 0), value):
                continue  # left where it is
            if self.moving:
                await self.source.delete(name)

    async def _restore(self, rest: str, name: str, ttl: int, value: bytes) -> bool:
        """The key under its cluster name (a TTL of 0 is none); False when it is not
        moved: not of the layout, or already where the layout keeps it."""
        try:
            new = self.keys.name_of(rest)
        except ValueError:
            self.counts["skipped"] += 1
            return False
        if new == name:
            return False
        try:
            await self.target.restore(new, ttl, value)
            self.counts["copied"] += 1
        except ResponseError as exc:
            if "BUSYKEY" not in str(exc):
                raise
            self.counts["kept"] += 1
        return True

    async def _split_active(self, name: str) -> None:
        by_clinic: dict[str, list[str]] = {}
        for raw in await self.source.smembers(name):
            found = unscoped(redis_text(raw))
            if found is not None:
                by_clinic.setdefault(found[0], []).append(redis_text(raw))
        for clinic_id, members in by_clinic.items():
            added = await self.target.sadd(self.keys.active(clinic_id), *members)
            self.counts["active_entries"] += int(added)
            await self.target.sadd(self.keys.clinics, clinic_id)


async def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tracker.migrate")
    parser.add_argument("--to-cluster", metavar="URL", help="copy every key into this cluster")
    parser.add_argument(
        "--spread",
        metavar="URL",
        help="on this cluster, move the keys of the one-slot layout to one slot per clinic",
    )
    args = parser.parse_args()
    settings = TrackerSettings()
    prefix = f"{settings.redis_prefix}:{NAME}"
    if args.spread:
        cluster = RedisCluster.from_url(args.spread)
        await cluster.initialize()
        try:
            moved = await copy_to_cluster(cluster, "{" + prefix + "}", cluster, prefix)
            print(json.dumps(moved))
        finally:
            await cluster.aclose()
        return
    redis = Redis.from_url(settings.redis_url)
    try:
        if args.to_cluster:
            target = RedisCluster.from_url(args.to_cluster)
            await target.initialize()
            try:
                print(json.dumps(await copy_to_cluster(redis, prefix, target, prefix)))
            finally:
                await target.aclose()
            return
        store = TrackerStore(redis, prefix, retention_for(settings))
        print(json.dumps(await migrate(store)))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_main())
