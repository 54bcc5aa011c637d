"""The tracker on a real Redis Cluster: three redis-server processes in cluster mode on
free loopback ports, one test module, stopped at the end.

The tracker runs in-process with ``TRACKER_REDIS_CLUSTER=true`` (its store is the
cluster client, its prefix the hash tag ``{<namespace>:bs:tracker}``, ``keys.py``). The
cluster client refuses any script or multi-key command whose keys hash to different
slots (the negative control shows it for the single-Redis prefix), so every send,
status, completion, plan, console read and erasure that succeeds here was slot-safe.
The flows are the single-Redis tests' own, imported and run again on the cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from shared.contracts import (
    ActivityCompleted,
    ClientErased,
    ClientErasureCompleted,
    new_envelope,
)
from shared.erasure import erasure_report
from shared.service import redis_text
from shared.topology import Topology
from tests.scheduler.test_redis_cluster import free_port_block
from tests.support.infra import wait_for
from tests.support.servers import DedicatedRedis, redis_cluster
from tests.tracker.conftest import (
    CLINIC_TOKENS,
    Tracker,
    assigned,
    settings_for,
    started,
    today_utc,
)
from tests.tracker.test_console_timeline_api import (
    TOKENS,
    test_an_older_plan_never_replaces_a_newer_one,
    test_the_client_shows_every_decision_with_its_reason,
    test_two_clinics_with_the_same_client_ref_see_only_their_own,
)
from tests.tracker.test_delivery_store import Published, send
from tests.tracker.test_tracker_flows import (
    test_a_completion_is_recorded_and_announced_once,
    test_a_status_before_its_send_is_announced_by_the_send,
    test_out_of_order_and_duplicate_callbacks_announce_delivery_once,
)
from tracker.handlers import handle
from tracker.keys import cluster_prefix
from tracker.migrate import copy_to_cluster
from tracker.runtime import Runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MASTERS = 3
CLINIC = "clinic-a"  # the conftest's clinic token names it
A = {"Authorization": "Bearer token-clinic-a"}

# The single-Redis flows, collected again here: this module's ``tracker`` fixture runs
# them against the cluster.
__all__ = [
    "test_a_completion_is_recorded_and_announced_once",
    "test_a_status_before_its_send_is_announced_by_the_send",
    "test_an_older_plan_never_replaces_a_newer_one",
    "test_out_of_order_and_duplicate_callbacks_announce_delivery_once",
    "test_the_client_shows_every_decision_with_its_reason",
    "test_two_clinics_with_the_same_client_ref_see_only_their_own",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[DedicatedRedis]]:
    with redis_cluster(free_port_block(MASTERS), masters=MASTERS) as nodes:
        yield nodes


@pytest.fixture
async def client(cluster: list[DedicatedRedis]) -> AsyncIterator[RedisCluster]:
    redis = RedisCluster.from_url(cluster[0].url)
    await redis.initialize()
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
async def tracker(
    topology: Topology, rabbit_channel: AbstractChannel, cluster: list[DedicatedRedis]
) -> AsyncIterator[Tracker]:
    settings = settings_for(topology.namespace, redis_url=cluster[0].url, redis_cluster=True)
    # The console flows' clinics (and tokens) beside the conftest's.
    settings = settings.model_copy(update={"clinic_tokens": {**CLINIC_TOKENS, **TOKENS}})
    async with started(settings, topology, rabbit_channel) as running_:
        yield running_


async def test_the_tracker_uses_the_cluster_client_and_one_tagged_prefix(
    tracker: Tracker, client: RedisCluster
) -> None:
    store = tracker.runtime.store
    assert isinstance(store.redis, RedisCluster)
    assert store.prefix == "{" + f"{tracker.topology.namespace}:bs:tracker" + "}"
    await tracker.publish(assigned(str(uuid.uuid4()), clinic=CLINIC))
    match = store.prefix.replace("{", "\\{").replace("}", "\\}") + ":*"

    async def keys() -> list[str]:
        return [redis_text(k) async for k in client.scan_iter(match=match, count=1000)]

    async def written() -> bool:
        return bool(await keys())

    await wait_for(written, timeout=20)
    assert len({client.keyslot(k) for k in await keys()}) == 1


async def test_a_clients_data_is_erased_on_the_cluster(
    tracker: Tracker, client: RedisCluster
) -> None:
    """Sends, a delivery, a completion and the plan of one client, then its erasure: the
    answer comes once every service reported, and nothing of the client is left."""
    client_ref = str(uuid.uuid4())
    asg = assigned(str(uuid.uuid4()), clinic=CLINIC, client=client_ref)
    await tracker.publish(asg)
    sent = send(CLINIC, str(uuid.uuid4())).model_copy(
        update={"client_ref": client_ref, "assignment_id": asg.assignment_id}
    )
    await tracker.publish(sent)
    completed = ActivityCompleted(
        **new_envelope(),
        clinic_id=CLINIC,
        assignment_id=asg.assignment_id,
        client_ref=client_ref,
        occurrence_date=today_utc(),
        completed_at=datetime.now(UTC),
    )
    await tracker.publish(completed)
    url = f"/api/console/clients/{client_ref}"

    async def recorded() -> bool:
        rows = (await tracker.http.get(url, headers=A)).json()["timeline"]
        return {r["kind"] for r in rows} >= {"sent", "completed"}

    await wait_for(recorded, timeout=20)
    erased = ClientErased(**new_envelope(), clinic_id=CLINIC, client_ref=client_ref)
    await tracker.publish(erased)
    for service in ("scheduler", "notifier"):
        await tracker.publish(erasure_report(erased, service, {"records": 1}))
    await wait_for(lambda: bool(tracker.listener.of("client.erasure.completed")), timeout=20)
    [answer] = tracker.listener.of("client.erasure.completed")
    counts = ClientErasureCompleted.model_validate(answer).counts["tracker"]
    assert counts["reminders"] == 1, counts
    assert counts["timeline"] == 1, counts
    assert counts["assignments"] == 1, counts
    assert counts["completions"] == 1, counts
    left = [
        k
        async for k in client.scan_iter(match=f"*{tracker.topology.namespace}*", count=1000)
        if client_ref.encode() in k
    ]
    assert left == []
    assert (await tracker.http.get(url, headers=A)).json()["timeline"] == []


async def test_negative_control_the_single_redis_prefix_spans_slots(
    namespace: str, client: RedisCluster
) -> None:
    """Without the tagged prefix the delivery commit's keys (the reminder's, the
    clinic's counters) hash to different slots: the cluster refuses the commit."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    cases = Runtime(settings).open(client, prefix, Published())
    with pytest.raises((RedisClusterException, ResponseError)):
        await handle(cases, send("clinic-" + str(uuid.uuid4()), str(uuid.uuid4())))
    tagged = Runtime(settings).open(client, cluster_prefix(prefix), Published())
    await handle(tagged, send("clinic-" + str(uuid.uuid4()), str(uuid.uuid4())))


async def test_a_single_redis_trackers_keys_are_copied_to_the_cluster(
    namespace: str, redis: Redis, client: RedisCluster
) -> None:
    """The upgrade: what a tracker kept on its own Redis is copied under the tagged
    prefix with its TTL, and a tracker on the cluster reads it as its own."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    before = Runtime(settings).open(redis, prefix, Published())
    clinic = "clinic-" + str(uuid.uuid4())
    asg = assigned(str(uuid.uuid4()), clinic=clinic)
    await handle(before, asg)
    sent = send(clinic, str(uuid.uuid4()))
    await handle(before, sent)

    assert (await copy_to_cluster(redis, prefix, client))["copied"] >= 3
    again = await copy_to_cluster(redis, prefix, client)
    assert again["copied"] == 0  # what the cluster holds is kept
    assert again["kept"] >= 3

    after = Runtime(settings).open(client, cluster_prefix(prefix), Published())
    record = await after.store.assignment(clinic, asg.assignment_id)
    assert record is not None
    assert record.client_ref == asg.client_ref
    assert await after.store.reminder(clinic, sent.reminder_id) == await before.store.reminder(
        clinic, sent.reminder_id
    )
    ttl = await client.ttl(after.store.keys.reminder(clinic, sent.reminder_id))
    assert 0 < ttl <= settings.delivery_detail_retention_days * 86_400
