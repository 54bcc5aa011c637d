"""A client's erasure: delete what the tracker holds about it, gather the three
services' reports, answer the EHR with ``client.erasure.completed``.

Load, decide (``decide/erasure.py``), one commit (``lua.ERASE_CLIENT``). Reminder hashes
and done links are not indexed by client: the load finds them with a SCAN of the
clinic's ``r:{<clinic>/*}`` keys (and the previous layout's ``reminder:{<clinic>/*}``)
and of ``link:*`` (a pass over the keyspace, server-side filtered, with a read of each
match's owner): erasure is rare, and an index per client would cost every send a write.

The reports of one erasure are gathered in ``erasure:<clinic>/<erasure event id>`` (a
hash of counts per service that never names the client, kept ``GATHER_TTL_SECONDS``).
When the last one arrives the completion is published with an id derived from the
erasure's, then the hash is marked announced: a redelivered report (or a repeat of the
same ``client.erased``) announces nothing more; a later ``client.erased`` for the client
(a new event id) deletes whatever came since and completes again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from shared.contracts import (
    ClientErased,
    ClientErasureCompleted,
    ClientErasureReported,
    derived_event_id,
)
from shared.erasure import SERVICES, erasure_report, glob_escape
from shared.handling import add_to_summary
from shared.logging import get_logger
from shared.ordering import InOrder
from shared.service import ScriptCall, eval_together, redis_text
from tracker import lua
from tracker.decide.erasure import (
    GLOBAL_KINDS,
    Found,
    completed_counts,
    counts_of,
    erasure_targets,
)
from tracker.store import TrackerStore
from tracker.usecases.publishing import Publisher

log = get_logger("tracker.erasure")
GATHER_TTL_SECONDS = 7 * 86_400  # a report later than this starts a gather that never ends
SCAN_COUNT = 1000


class Erasures:
    def __init__(self, store: TrackerStore, publisher: Publisher) -> None:
        self.store, self.publisher = store, publisher
        self._erase = store.redis.register_script(lua.ERASE_CLIENT)
        self._gather = store.redis.register_script(lua.ERASURE_GATHER)

    async def erase(self, event: ClientErased) -> dict[str, int]:
        """Delete the client's data, then count it as the tracker's report."""
        found = await self._load(event.clinic_id, event.client_ref)
        k = self.store.keys
        targets = erasure_targets(k, found)
        # On a cluster each done link is a slot of its own, not the clinic's: a call per
        # link deletes it (each call atomic on its own; a repeat erasure finishes them).
        apart = GLOBAL_KINDS if k.spread else ()
        kinds, keys = targets.kinds_and_keys(without=apart)
        head = [k.clinic_clients(event.clinic_id), k.active(event.clinic_id)]
        head.append(k.stream("failures", event.clinic_id))
        body = {"head": len(head), "kinds": kinds, "active": targets.active}
        body["failures"] = targets.failure_ids
        calls: list[ScriptCall] = [
            (self._erase, [*head, *keys], [event.client_ref, json.dumps(body)])
        ]
        for kind, key in zip(*targets.kinds_and_keys(only=apart), strict=True):
            far = {"head": 0, "kinds": [kind], "active": [], "failures": []}
            calls.append((self._erase, [key], [event.client_ref, json.dumps(far)]))
        raws = await eval_together(self.store.redis, calls)
        counts = counts_of(*(redis_text(raw) for raw in raws))
        await self.reported(erasure_report(event, "tracker", counts))
        return counts

    async def reported(self, report: ClientErasureReported) -> bool:
        """Keep a service's report; announce the completion once all are in. True when
        this report completed the erasure."""
        key = self._gather_key(report.clinic_id, str(report.erasure_event_id))
        args: list[str | int] = [report.service, json.dumps(report.counts)]
        args += [GATHER_TTL_SECONDS, len(SERVICES)]
        raw = cast(list[Any] | None, await self._gather(keys=[key], args=args))
        if not raw:
            return False
        fields = {redis_text(f): redis_text(v) for f, v in zip(raw[::2], raw[1::2], strict=True)}
        counts = completed_counts(fields)
        if counts is None:
            return False
        await self.publisher.publish(completion(report, counts))
        # After the publish: a failed publish is retried with the report's redelivery.
        await self.store.redis.hset(key, "_announced", "1")
        log.info("client erasure completed", erasure_event_id=str(report.erasure_event_id))
        return True

    def _gather_key(self, clinic_id: str, erasure_event_id: str) -> str:
        return self.store.keys.erasure(clinic_id, erasure_event_id)

    async def _load(self, clinic_id: str, client_ref: str) -> Found:
        k, redis = self.store.keys, self.store.redis
        ids = sorted(redis_text(i) for i in await redis.smembers(k.client(clinic_id, client_ref)))
        clinic = glob_escape(clinic_id)
        tag = "{" + clinic_id + "/"
        reminders = await self._owners(glob_escape(k.of(clinic_id, "r", tag)) + "*", ["c"])
        old = glob_escape(k.of(clinic_id, "reminder", tag)) + "*"
        reminders |= await self._owners(old, ["client_ref"])
        links = await self._owners(k.links_match(), ["clinic_id", "client_ref"])
        once_match = glob_escape(k.once_prefix(clinic_id)) + f"*:{clinic}/*"
        once = [key async for key in self._scan(once_match)]
        failures = cast(
            list[tuple[Any, dict[Any, Any]]], await redis.xrange(k.stream("failures", clinic_id))
        )
        return Found(
            clinic_id=clinic_id,
            client_ref=client_ref,
            assignment_ids=ids,
            reminders={key: owner[0] for key, owner in reminders.items()},
            links={key: (owner[0], owner[1]) for key, owner in links.items() if len(owner) == 2},
            once_keys=once,
            failures=[
                (redis_text(entry), redis_text(fields.get(b"reminder_id", b"")))
                for entry, fields in failures
            ],
        )

    async def _owners(self, match: str, fields: list[str]) -> dict[str, list[str]]:
        """The keys matching ``match`` (hashes) with the given fields of each."""
        keys = [key async for key in self._scan(match)]
        if not keys:
            return {}
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, fields)
            rows = await pipe.execute()
        return {
            key: [redis_text(v) if v is not None else "" for v in row]
            for key, row in zip(keys, rows, strict=True)
        }

    async def _scan(self, match: str) -> AsyncIterator[str]:
        async for key in self.store.redis.scan_iter(match=match, count=SCAN_COUNT):
            yield redis_text(key)


def completion(
    report: ClientErasureReported, counts: dict[str, dict[str, int]]
) -> ClientErasureCompleted:
    """The answer to the EHR; the same id however often it is announced."""
    erasure = str(report.erasure_event_id)
    return ClientErasureCompleted(
        event_id=derived_event_id("client.erasure.completed", report.clinic_id, erasure),
        clinic_id=report.clinic_id,
        correlation_id=report.correlation_id,
        causation_id=report.erasure_event_id,
        client_ref=report.client_ref,
        erasure_event_id=report.erasure_event_id,
        counts=counts,
    )


class ErasuresOf:
    """The erasure use case on the runtime's current store (built once per store: the
    runtime opens a new one each time the service starts)."""

    def __init__(self, store: Callable[[], TrackerStore], publisher: Publisher) -> None:
        self._store, self._publisher = store, publisher
        self._current: Erasures | None = None

    def __call__(self) -> Erasures:
        store = self._store()
        if self._current is None or self._current.store is not store:
            self._current = Erasures(store, self._publisher)
        return self._current


async def handle_erasure(
    order: InOrder, erasures: Erasures, event: ClientErased | ClientErasureReported
) -> None:
    """A ``client.erased`` in the client's turn (after its events that came first); a
    report on its own (the gather is one atomic script)."""
    if isinstance(event, ClientErasureReported):
        await erasures.reported(event)
        return
    async with order.turn(f"{event.clinic_id}/{event.client_ref}"):
        counts = await erasures.erase(event)
    add_to_summary(erased=sum(counts.values()))
