"""One scheduler replica is killed (SIGKILL) in the middle of a burst, and every reminder
still fires once its lease expires.

Two replicas run as real processes on the real RabbitMQ and Redis, with a 3 s lease. A
few thousand reminders are due in the same second. When the burst is under way, one
replica is killed; the timers it had claimed but not acked stay leased in Redis, become
due again when the lease runs out, and the survivor fires them. A reminder the killed
replica had already published is then published twice: at-least-once delivery, which
the notifier's dedupe absorbs. Nothing outside those orphaned claims may be duplicated.
"""

from __future__ import annotations

import asyncio
import time as clock
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from scheduler.app import NAME
from scheduler.keys import Keys
from scheduler.settings import SchedulerSettings
from shared.topology import Topology
from tests.scheduler.support import assignment_at, collect_due, policy_event, publish, soon
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.system import running_system

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BURST = 2000
PROBE = 200
LEASE_SECONDS = 3
REPLICAS = ("scheduler", "scheduler#2")
SHARDS = 16


async def burst_leases(redis: Redis, keys: Keys, due_ms: int) -> dict[str, int]:
    """Burst timers that are claimed and not acked: member -> lease expiry (ms)."""
    pipe = redis.pipeline(transaction=False)
    for shard in keys.shards():
        # Leases end within minutes; the next day's timers are a day away.
        pipe.zrangebyscore(shard.due, due_ms + 1, due_ms + 600_000, withscores=True)
    leased: dict[str, int] = {}
    for rows in await pipe.execute():
        for member, score in rows:
            name = member.decode()
            if name.endswith(f"|{due_ms}"):
                leased[name] = int(score)
    return leased


async def burst_left(redis: Redis, keys: Keys, due_ms: int) -> int:
    """Burst timers still in Redis, due or leased."""
    leased = await burst_leases(redis, keys, due_ms)
    pipe = redis.pipeline(transaction=False)
    for shard in keys.shards():
        pipe.zcount(shard.due, due_ms, due_ms)
    return len(leased) + sum(int(n) for n in await pipe.execute())


async def publish_assignments(
    channel: AbstractChannel, topology: Topology, numbers: range, at: datetime
) -> None:
    for start in range(numbers.start, numbers.stop, 200):
        chunk = range(start, min(start + 200, numbers.stop))
        await asyncio.gather(*(publish(channel, topology, assignment_at(n, at)) for n in chunk))


async def burst_time(
    channel: AbstractChannel, topology: Topology, redis: Redis, keys: Keys
) -> datetime:
    """When the burst can be due: once all of it is planned, at the rate this machine
    plans right now (other suites may share its two cores), with a 1.5x margin."""
    started = clock.monotonic()
    probe = range(BURST, BURST + PROBE)  # other clients, due a day later
    await publish_assignments(channel, topology, probe, soon(86_400))

    async def planned() -> bool:
        pipe = redis.pipeline(transaction=False)
        for shard in keys.shards():
            pipe.zcard(shard.clients)
        return sum(int(n) for n in await pipe.execute()) >= PROBE

    await wait_for(planned, timeout=30)
    rate = PROBE / (clock.monotonic() - started)
    print(f"planning {rate:.0f} assignments/s")
    return soon(3 + 1.5 * BURST / rate)


async def test_a_killed_replica_loses_nothing_and_duplicates_only_its_own_claims(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis, tmp_path: Path
) -> None:
    keys = Keys(f"{SchedulerSettings(namespace=topology.namespace).redis_prefix}:{NAME}", SHARDS)
    env = {
        "SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
        "SCHEDULER_SHARD_COUNT": str(SHARDS),
        # With a 3 s lease, a replica must not claim more than it can publish in well
        # under 3 s on a busy machine, or the other replica would rightly fire it too.
        "SCHEDULER_FIRE_PARALLEL_SHARDS": "2",
    }
    with running_system(
        topology.namespace, AMQP_URL, REDIS_URL, tmp_path, {"scheduler": env}, REPLICAS
    ) as system:
        async with collect_due(rabbit_channel, topology) as due:
            await publish(rabbit_channel, topology, policy_event())
            await asyncio.sleep(0.5)
            at = await burst_time(rabbit_channel, topology, redis, keys)
            due_ms = int(at.timestamp() * 1000)
            await publish_assignments(rabbit_channel, topology, range(BURST), at)

            async def left(n: int) -> bool:
                return await burst_left(redis, keys, due_ms) == n

            await wait_for(lambda: left(BURST), timeout=60)
            await wait_for(lambda: len(due.received) >= BURST // 10, timeout=40, interval=0.005)
            victim = system.procs["scheduler"]
            victim.kill()
            killed_ms = int(clock.time() * 1000)
            at_kill = await burst_leases(redis, keys, due_ms)
            received_at_kill = len(due.received)
            # Just before the earliest lease runs out, the survivor has acked its own batch:
            # what is still leased with the same expiry was the victim's.
            first_expiry = min(at_kill.values(), default=killed_ms)
            await asyncio.sleep(max(0.0, (first_expiry - 300) / 1000 - clock.time()))
            later = await burst_leases(redis, keys, due_ms)
            orphans = {m for m, s in at_kill.items() if later.get(m) == s}
            await wait_for(lambda: len(due.received) >= BURST, timeout=LEASE_SECONDS + 20)
            await wait_for(lambda: left(0), timeout=10)
            await asyncio.sleep(1.0)  # a stray duplicate would arrive by now
        assert system.procs["scheduler#2"].alive()
    counts = Counter(r["assignment_id"] for r in due.received)
    duplicated = {a for a, c in counts.items() if c > 1}
    orphan_assignments = {m.split("|")[0].split("/", 1)[1] for m in orphans}
    print(
        f"burst={BURST} received={len(due.received)} distinct={len(counts)} "
        f"received_at_kill={received_at_kill} leased_at_kill={len(at_kill)} "
        f"orphaned={len(orphans)} duplicated={len(duplicated)}"
    )
    assert set(counts) == {f"asg-{n}" for n in range(BURST)}  # nothing lost
    assert orphans, "the kill did not catch the victim holding claims"
    assert duplicated <= orphan_assignments
    assert max(counts.values()) <= 2
