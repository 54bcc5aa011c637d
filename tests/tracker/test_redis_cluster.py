"""The tracker on a real Redis Cluster: three redis-server processes in cluster mode on
free loopback ports, one test module, stopped at the end.

The tracker runs in-process with ``TRACKER_REDIS_CLUSTER=true`` (its store is the
cluster client, each clinic's keys in a slot of their own, ``{<namespace>:bs:tracker/
<clinic>}:...``, the global ones under ``{<namespace>:bs:tracker}``, ``keys.py``). The
cluster client refuses any script or multi-key command whose keys hash to different
slots (the negative control shows it for the single-Redis layout), so every send,
status, completion, plan, console read and erasure that succeeds here was slot-safe.
The flows are the single-Redis tests' own, imported and run again on the cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
    utcnow,
)
from shared.erasure import erasure_report
from shared.links import done_code
from shared.service import redis_text
from shared.topology import Topology
from tests.scheduler.test_redis_cluster import free_port_block
from tests.support.infra import wait_for
from tests.support.servers import DedicatedRedis, redis_cluster
from tests.tracker.conftest import (
    CLINIC_TOKENS,
    SECRET,
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
from tests.tracker.test_digest_page import (
    test_the_page_lists_each_reminder_and_a_button_records_only_that_one,
)
from tests.tracker.test_done_link import (
    test_opening_the_link_records_nothing_and_its_button_records_once,
)
from tests.tracker.test_tracker_flows import (
    test_a_completion_is_recorded_and_announced_once,
    test_a_status_before_its_send_is_announced_by_the_send,
    test_out_of_order_and_duplicate_callbacks_announce_delivery_once,
)
from tracker.handlers import handle
from tracker.keys import Keys
from tracker.migrate import copy_to_cluster
from tracker.runtime import Runtime
from tracker.store import TrackerStore
from tracker.usecases.delivery import Delivery

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
    "test_opening_the_link_records_nothing_and_its_button_records_once",
    "test_out_of_order_and_duplicate_callbacks_announce_delivery_once",
    "test_the_client_shows_every_decision_with_its_reason",
    "test_the_page_lists_each_reminder_and_a_button_records_only_that_one",
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


async def test_the_tracker_spreads_its_keys_over_the_masters_by_clinic(
    tracker: Tracker, client: RedisCluster
) -> None:
    """Each clinic's keys are one slot (so its scripts stay atomic); clinics land on
    different slots and, with enough of them, on every master."""
    store = tracker.runtime.store
    assert isinstance(store.redis, RedisCluster)
    base = f"{tracker.topology.namespace}:bs:tracker"
    assert store.keys.spread
    assert store.prefix == "{" + base + "}"
    clinics = [CLINIC, *(f"clinic-{i:02d}-{uuid.uuid4()}" for i in range(11))]

    def masters_of(names: list[str]) -> set[str]:
        nodes = (client.get_node_from_key(f"{{{base}/{c}}}") for c in names)
        return {n.name for n in nodes if n is not None}

    # Twelve random clinics miss one of three masters about once in thirty runs
    # (3 x (2/3)^11); add clinics until every master has one, so the test asks whether
    # the keys go where their clinic's slot says, not whether chance spread them.
    while len(masters_of(clinics)) < MASTERS:
        clinics.append(f"clinic-{len(clinics):02d}-{uuid.uuid4()}")
    for clinic in clinics:
        await tracker.publish(assigned(str(uuid.uuid4()), clinic=clinic))

    async def keys_of(clinic: str) -> list[str]:
        match = glob("{" + base + "/" + clinic + "}") + ":*"
        return [redis_text(k) async for k in client.scan_iter(match=match, count=1000)]

    async def written() -> bool:
        return all([await keys_of(c) for c in clinics])

    await wait_for(written, timeout=30)
    slots = {}
    for clinic in clinics:
        found = await keys_of(clinic)
        assert {k.split(":", 4)[3] for k in found} >= {"assignment", "client", "active"}
        assert len({client.keyslot(k) for k in found}) == 1, found
        slots[clinic] = client.keyslot(found[0])
    assert len(set(slots.values())) == len(clinics)  # no two of these share a slot
    # Every master holds keys of the clinics whose slots it serves.
    for node in client.get_primaries():
        held = [
            redis_text(k)
            async for k in client.scan_iter(
                match=glob("{" + base + "/") + "*", count=1000, target_nodes=node
            )
        ]
        assert held, node.name
    assert len(masters_of(clinics)) == MASTERS
    assert set(await store.clinics()) >= set(clinics)  # the global index names them all
    assert {c for c, _ in await store.active_assignments()} >= set(clinics)


def glob(text: str) -> str:
    return text.replace("{", "\\{").replace("}", "\\}")


async def test_a_clients_data_is_erased_on_the_cluster(
    tracker: Tracker, client: RedisCluster
) -> None:
    """Sends, a delivery, a completion and the plan of one client, then its erasure: the
    answer comes once every service reported, and nothing of the client is left."""
    client_ref = str(uuid.uuid4())
    asg = assigned(str(uuid.uuid4()), clinic=CLINIC, client=client_ref)
    await tracker.publish(asg)
    reminder_id = str(uuid.uuid4())
    code = done_code((SECRET,), CLINIC, reminder_id)  # a done link: a slot of its own
    sent = send(CLINIC, reminder_id).model_copy(
        update={
            "client_ref": client_ref,
            "assignment_id": asg.assignment_id,
            "link_code": code,
            "link_expires_at": datetime.now(UTC) + timedelta(hours=72),
        }
    )
    await tracker.publish(sent)

    async def linked() -> bool:
        return await tracker.runtime.links.records.get(code) is not None

    await wait_for(linked, timeout=20)
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
    assert counts["links"] == 1, counts
    assert await tracker.runtime.links.records.get(code) is None
    left = [
        k
        async for k in client.scan_iter(match=f"*{tracker.topology.namespace}*", count=1000)
        if client_ref.encode() in k
    ]
    assert left == []
    assert (await tracker.http.get(url, headers=A)).json()["timeline"] == []


async def test_negative_control_the_single_redis_layout_spans_slots(
    namespace: str, client: RedisCluster
) -> None:
    """Without the spread layout the delivery commit's keys (the reminder's, the clinic's
    counters) hash to different slots: the cluster refuses the commit."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    flat = TrackerStore(client, prefix, spread=False)
    opened = Runtime(settings).open(client, prefix, Published())
    cases = replace(opened, store=flat, delivery=Delivery(flat, Published(), utcnow))
    with pytest.raises((RedisClusterException, ResponseError)):
        await handle(cases, send("clinic-" + str(uuid.uuid4()), str(uuid.uuid4())))
    spread = Runtime(settings).open(client, prefix, Published())
    await handle(spread, send("clinic-" + str(uuid.uuid4()), str(uuid.uuid4())))


async def test_a_single_redis_trackers_keys_are_copied_to_the_cluster(
    namespace: str, redis: Redis, client: RedisCluster
) -> None:
    """The upgrade: what a tracker kept on its own Redis is copied under the cluster's
    layout (each clinic its slot, ``active`` split by clinic) with its TTL, and a
    tracker on the cluster reads it as its own. Two clinics share the ids."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    before = Runtime(settings).open(redis, prefix, Published())
    clinics = ["clinic-" + str(uuid.uuid4()) for _ in range(2)]
    asg = assigned(str(uuid.uuid4()), clinic=clinics[0])
    sent = send(clinics[0], str(uuid.uuid4()))
    for clinic in clinics:
        await handle(before, asg.model_copy(update={"clinic_id": clinic}))
        await handle(before, sent.model_copy(update={"clinic_id": clinic}))

    copied = await copy_to_cluster(redis, prefix, client, prefix)
    assert copied["copied"] >= 6, copied
    assert copied["skipped"] == 0, copied
    again = await copy_to_cluster(redis, prefix, client, prefix)
    assert again["copied"] == 0  # what the cluster holds is kept
    assert again["kept"] >= 6

    after = Runtime(settings).open(client, prefix, Published())
    for clinic in clinics:
        record = await after.store.assignment(clinic, asg.assignment_id)
        assert record is not None
        assert record.clinic_id == clinic
        assert record.client_ref == asg.client_ref
        assert await after.store.reminder(clinic, sent.reminder_id) == (
            await before.store.reminder(clinic, sent.reminder_id)
        )
        ttl = await client.ttl(after.store.keys.reminder(clinic, sent.reminder_id))
        assert 0 < ttl <= settings.delivery_detail_retention_days * 86_400
    active = {pair for pair in await after.store.active_assignments() if pair[0] in clinics}
    assert active == {(c, asg.assignment_id) for c in clinics}


async def test_the_one_slot_layout_moves_to_one_slot_per_clinic(
    namespace: str, client: RedisCluster
) -> None:
    """A tracker of the release before kept every key under ``{<prefix>}`` on the
    cluster: ``--spread`` moves each to its clinic's slot and leaves nothing behind."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    one_slot = Keys("{" + prefix + "}")  # how the release before named every key
    clinic = "clinic-" + str(uuid.uuid4())
    asg = assigned(str(uuid.uuid4()), clinic=clinic)
    record_key = one_slot.key("assignment", f"{clinic}/{asg.assignment_id}")
    await client.set(record_key, "{}", ex=3600)
    await client.sadd(one_slot.key("active"), f"{clinic}/{asg.assignment_id}")
    await client.sadd(one_slot.key("clinics"), clinic)
    code = uuid.uuid4().hex
    await client.hset(one_slot.key("link", code), mapping={"clinic_id": clinic})

    moved = await copy_to_cluster(client, one_slot.prefix, client, prefix)
    assert moved["copied"] == 2, moved
    assert moved["active_entries"] == 1, moved
    spread = Keys(prefix, spread=True)
    assert await client.get(spread.assignment(clinic, asg.assignment_id)) == b"{}"
    assert 0 < await client.ttl(spread.assignment(clinic, asg.assignment_id)) <= 3600
    assert await client.smembers(spread.active(clinic)) == {
        f"{clinic}/{asg.assignment_id}".encode()
    }
    assert not await client.exists(record_key, one_slot.key("active"))
    assert await client.sismember(spread.clinics, clinic)  # global: where it was
    assert await client.hget(spread.link(code), "clinic_id") == clinic.encode()
    assert spread.link(code).endswith(":link:{" + code + "}")  # a slot of its own
