"""The scheduler's keys and Lua scripts on a real Redis Cluster: three redis-server
processes in cluster mode on free loopback ports, one test module, stopped at the end.

The cluster client refuses a multi-key command whose keys hash to different slots
(the negative control below shows it), so every commit, claim and ack that succeeds
here stayed in one slot; the shards' slots are spread over all three masters.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from scheduler.app import create_app
from scheduler.firing import Firer
from scheduler.handlers import handle
from scheduler.keys import Keys
from scheduler.replan import Replanner, client_key
from scheduler.settings import SchedulerSettings
from scheduler.store import TimerStore
from shared.contracts import ReminderDue
from shared.topology import Topology
from tests.scheduler.support import (
    CLINIC,
    assignment_at,
    collect_due,
    ignore,
    policy_event,
    soon,
)
from tests.scheduler.support import publish as publish_event
from tests.support.infra import unique_namespace, wait_for
from tests.support.servers import DedicatedRedis, redis_cluster
from tests.support.services import running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MASTERS = 3
SHARDS = 16
BUS_OFFSET = 10_000  # a cluster node also listens on its port + 10000


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count: int) -> int:
    """A first port such that the next ``count`` ports and their bus ports are free."""
    for _ in range(100):
        first = random.randrange(20_000, 30_000)
        ports = [first + i + bus for i in range(count) for bus in (0, BUS_OFFSET)]
        if all(bindable(p) for p in ports):
            return first
    raise RuntimeError("no free block of loopback ports for a Redis Cluster")


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[DedicatedRedis]]:
    with redis_cluster(free_port_block(MASTERS), masters=MASTERS) as nodes:
        yield nodes


@pytest.fixture
async def client(cluster: list[DedicatedRedis]) -> AsyncIterator[RedisCluster]:
    redis = RedisCluster.from_url(cluster[0].url)
    await redis.initialize()
    yield redis
    await redis.aclose()


def cluster_store(client: RedisCluster) -> TimerStore:
    """A store under a fresh namespace whose shards span every master: sixteen random
    shard tags miss one of three masters about once in two hundred namespaces, and the
    tests below ask whether work follows the shards, not whether chance spread them."""
    while True:
        keys = Keys(f"{unique_namespace()}:bs:scheduler", SHARDS)
        if len({master_of(client, s.due) for s in keys.shards()}) == MASTERS:
            return TimerStore(client, keys)


def master_of(client: RedisCluster, key: str) -> int:
    node = client.get_node_from_key(key)
    assert node is not None
    return int(node.port)


async def test_each_shard_is_one_slot_and_the_shards_span_every_master(
    client: RedisCluster,
) -> None:
    store = cluster_store(client)
    for shard in store.keys.shards():
        names = (shard.due, shard.fire, shard.clients, shard.client("clinic-1/cl-1"))
        assert len({client.keyslot(k) for k in names}) == 1
    assert len({master_of(client, s.due) for s in store.keys.shards()}) == MASTERS
    # Negative control: the client refuses a script call across two shards' slots.
    one, other = store.keys.shard(0), store.keys.shard(1)
    assert client.keyslot(one.due) != client.keyslot(other.fire)
    with pytest.raises(RedisClusterException, match="same key slot"):
        await store._claim(keys=[one.due, other.fire], args=[10, 1000, 0])


async def test_commit_claim_and_ack_fire_every_reminder_once_across_the_masters(
    client: RedisCluster,
) -> None:
    store = cluster_store(client)
    replanner = Replanner(
        store,
        timedelta(days=7),
        timedelta(hours=24),
        timedelta(seconds=5),
        asyncio.Event(),
        announce=ignore,
    )
    await handle(replanner, policy_event())
    at, count = soon(2), 200
    for n in range(count):  # commits: one Lua call per client, each on its shard's master
        assert await handle(replanner, assignment_at(n, at))
    fired: list[ReminderDue] = []

    async def publish(event: ReminderDue) -> None:
        fired.append(event)

    firer = Firer(
        store, publish, lease_seconds=5, batch=50, concurrency=16, max_sleep=1, wake=asyncio.Event()
    )
    await asyncio.sleep(max(0.0, (at - soon(0)).total_seconds()) + 1.1)
    await firer.fire_once()  # claims (each acking the shard's previous batch), by shard
    await firer.flush()  # acks the last batches
    counts = Counter(e.assignment_id for e in fired)
    assert set(counts) == {f"asg-{n}" for n in range(count)}
    assert max(counts.values()) == 1
    shards = {store.keys.shard_of(client_key(CLINIC, e.client_ref)) for e in fired}
    assert len({master_of(client, store.keys.shard(n).due) for n in shards}) == MASTERS
    pending, overdue, _ = await store.backlog()  # the acks removed every fired timer
    assert overdue == 0
    assert pending == count * 6  # the next six days' timers of each assignment


async def test_a_claim_leases_its_timers_until_acked_or_expired(client: RedisCluster) -> None:
    store = cluster_store(client)
    replanner = Replanner(
        store,
        timedelta(days=7),
        timedelta(hours=24),
        timedelta(seconds=5),
        asyncio.Event(),
        announce=ignore,
    )
    await handle(replanner, policy_event())
    at = soon(1)
    await handle(replanner, assignment_at(1, at))
    shard = store.keys.shard_of(client_key(CLINIC, "cl-1"))
    await asyncio.sleep(max(0.0, (at - soon(0)).total_seconds()) + 1.1)

    first = await store.claim(shard, 10, lease_ms=600)
    assert len(first.members) == 1
    assert (await store.claim(shard, 10, lease_ms=600)).members == []  # leased: not due
    await asyncio.sleep(0.7)
    again = await store.claim(shard, 10, lease_ms=600)  # the lease ran out: due again
    assert again.members == first.members
    assert await store.ack(shard, first.lease_ms, first.members) == 0  # a stale lease
    assert await store.ack(shard, again.lease_ms, again.members) == 1
    assert (await store.claim(shard, 10, lease_ms=600)).members == []


async def test_the_scheduler_service_runs_on_a_cluster(
    cluster: list[DedicatedRedis],
    client: RedisCluster,
    topology: Topology,
    rabbit_channel: AbstractChannel,
) -> None:
    cfg = SchedulerSettings(
        namespace=topology.namespace,
        redis_url=cluster[1].url,
        redis_cluster=True,
        shard_count=SHARDS,
    )
    async with running(create_app(cfg)), collect_due(rabbit_channel, topology) as due:
        await publish_event(rabbit_channel, topology, policy_event())
        await asyncio.sleep(0.5)
        at, count = soon(4), 100
        for n in range(count):
            await publish_event(rabbit_channel, topology, assignment_at(n, at))
        await wait_for(lambda: len(due.received) >= count, timeout=30)
        await asyncio.sleep(1.0)  # a duplicate would arrive by now
    counts = Counter(r["assignment_id"] for r in due.received)
    assert set(counts) == {f"asg-{n}" for n in range(count)}
    assert max(counts.values()) == 1
    stored = [k async for k in client.scan_iter(match=f"{topology.namespace}:*", count=1000)]
    assert len({master_of(client, k) for k in stored}) == MASTERS  # state on every master
