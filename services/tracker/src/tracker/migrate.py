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

Moving to a Redis Cluster (``TRACKER_REDIS_CLUSTER=true``): there every key carries the
prefix as its hash tag, ``{<namespace>:bs:tracker}:...`` (``keys.cluster_prefix``), so
the keys are copied across under that name, each with its value (DUMP/RESTORE) and its
remaining TTL; a key the cluster already holds is kept (the running tracker's wins), so
running it again copies only what is new. Stop the tracker (or let its queue wait) for
the copy, then start it on the cluster:

    python -m tracker.migrate --to-cluster redis://<a cluster node>:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from shared.erasure import glob_escape
from shared.service import redis_text
from tracker.app import NAME
from tracker.keys import cluster_prefix, scoped
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


async def copy_to_cluster(source: Redis, prefix: str, target: RedisCluster) -> dict[str, int]:
    """Every key under ``prefix`` on ``source`` into ``target`` under the cluster's
    tagged prefix, with its TTL; keys the cluster holds already are kept."""
    counts = {"copied": 0, "kept": 0}
    batch: list[bytes] = []
    async for key in source.scan_iter(match=glob_escape(prefix) + ":*", count=COPY_BATCH):
        batch.append(key)
        if len(batch) >= COPY_BATCH:
            await _copy(source, prefix, target, batch, counts)
            batch = []
    await _copy(source, prefix, target, batch, counts)
    return counts


async def _copy(
    source: Redis, prefix: str, target: RedisCluster, keys: list[bytes], counts: dict[str, int]
) -> None:
    async with source.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.pttl(key)
            pipe.dump(key)
        rows = await pipe.execute()
    tagged = cluster_prefix(prefix)
    for key, ttl, value in zip(keys, rows[::2], rows[1::2], strict=True):
        if value is None or ttl == -2:  # expired since the scan
            continue
        name = tagged + redis_text(key).removeprefix(prefix)
        try:  # a key's TTL of -1 (none) is RESTORE's 0
            await target.restore(name, max(int(ttl), 0), value)
            counts["copied"] += 1
        except ResponseError as exc:
            if "BUSYKEY" not in str(exc):
                raise
            counts["kept"] += 1


async def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tracker.migrate")
    parser.add_argument("--to-cluster", metavar="URL", help="copy every key into this cluster")
    target_url = parser.parse_args().to_cluster
    settings = TrackerSettings()
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_prefix}:{NAME}"
    try:
        if target_url:
            target = RedisCluster.from_url(target_url)
            await target.initialize()
            try:
                print(json.dumps(await copy_to_cluster(redis, prefix, target)))
            finally:
                await target.aclose()
            return
        store = TrackerStore(redis, prefix, retention_for(settings))
        print(json.dumps(await migrate(store)))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_main())
