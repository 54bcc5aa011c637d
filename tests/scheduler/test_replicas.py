"""Two scheduler replicas on the real Redis and RabbitMQ share the timers: every
reminder fires exactly once, and bad input is dead-lettered while the rest goes on."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from shared.handling import REASON_HEADER
from shared.topology import SCHEDULER_QUEUE, Topology
from tests.scheduler.support import (
    CLINIC,
    POLICY,
    assignment_at,
    collect_due,
    policy_event,
    publish,
    publish_raw,
    soon,
)
from tests.support.infra import wait_for
from tests.support.services import running

pytestmark = pytest.mark.integration


def settings(namespace: str, **kw: object) -> SchedulerSettings:
    return SchedulerSettings.model_validate(
        {"namespace": namespace, "shard_count": 4, "backlog_interval_seconds": 1, **kw}
    )


async def test_two_replicas_fire_each_reminder_exactly_once(
    topology: Topology, rabbit_channel: AbstractChannel, redis: object
) -> None:
    cfg = settings(topology.namespace)
    async with (
        running(create_app(cfg)),
        running(create_app(cfg)),
        collect_due(rabbit_channel, topology) as due,
    ):
        await publish(rabbit_channel, topology, policy_event())
        await asyncio.sleep(0.5)  # the policy first (the other order is retried)
        at = soon(6)
        burst = 300
        for n in range(burst):
            await publish(rabbit_channel, topology, assignment_at(n, at))
        await wait_for(lambda: len(due.received) >= burst, timeout=30)
        await asyncio.sleep(1.5)  # any duplicate would arrive by now
    counts = Counter(due.ids())
    assert len(counts) == burst
    assert max(counts.values()) == 1
    assert {r["purpose"] for r in due.received} == {"reminder"}


async def test_bad_input_is_dead_lettered_with_a_reason_and_the_consumer_goes_on(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis
) -> None:
    cfg = settings(topology.namespace, retry_max_attempts=1)
    async with running(create_app(cfg)), collect_due(rabbit_channel, topology) as due:
        await publish(rabbit_channel, topology, policy_event())
        # Stored before the assignments come: the consumer handles messages side by side,
        # and with one attempt an assignment that beat its policy would be dead-lettered
        # as "unknown policy" instead of for the reason this test looks for.
        stored = f"{cfg.redis_prefix}:scheduler:policy:{CLINIC}/{POLICY}"

        async def policy_stored() -> bool:
            return bool(await redis.exists(stored))

        await wait_for(policy_stored, timeout=10)
        await publish_raw(rabbit_channel, topology, "activity.assigned", b"{not json")
        unknown = assignment_at(900, soon(60)).model_copy(update={"policy_id": "nope"})
        await publish(rabbit_channel, topology, unknown)
        never = assignment_at(901, soon(60))
        never = never.model_copy(
            update={
                "schedule": never.schedule.model_copy(
                    update={
                        "frequency": None,
                        "rrule": "FREQ=WEEKLY;BYDAY=MO",
                        "start": date(2026, 5, 5),
                        "end": date(2026, 5, 6),
                    }
                )
            }
        )
        await publish(rabbit_channel, topology, never)
        good = assignment_at(1, soon(3))
        await publish(rabbit_channel, topology, good)
        await wait_for(lambda: len(due.received) >= 1, timeout=20)
        dlq = await rabbit_channel.declare_queue(topology.dlq(SCHEDULER_QUEUE), passive=True)
        reasons: list[str] = []
        for _ in range(3):
            message = await dlq.get(timeout=5, fail=True)
            assert message is not None
            reasons.append(str((message.headers or {}).get(REASON_HEADER)))
            await message.ack()
    assert due.received[0]["assignment_id"] == "asg-1"
    assert due.received[0]["clinic_id"] == CLINIC
    joined = " | ".join(reasons)
    assert "not valid JSON" in joined
    assert "unknown policy 'nope'" in joined
    assert "no occurrence" in joined
