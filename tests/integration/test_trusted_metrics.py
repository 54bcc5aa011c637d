"""Metrics that add up: confirmed publishes per exchange and event type (and per clinic
for reminders), failures by error; the scheduler's backlog reported by one replica so a
sum over replicas is the true count; the circuit breaker's state per provider."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from faststream.exceptions import IncorrectState
from faststream.rabbit import RabbitBroker
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from notifier.resilience import CircuitBreaker
from scheduler.keys import Keys
from scheduler.store import TimerStore
from scheduler.upkeep import export_backlog, holds_lease, report_backlog
from shared.broker import EventPublisher, declare_with_connection
from shared.contracts import ReminderDue, SchedulerBacklogReported
from shared.contracts.examples import examples
from shared.topology import Topology
from tests.support.infra import AMQP_URL, wait_for

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def failures(exchange: str, event_type: str) -> float:
    """Publish failures whatever the error class."""
    total = 0.0
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == "bs_event_publish_failures_total" and s.labels["exchange"] == exchange:
                total += s.value if s.labels["event_type"] == event_type else 0.0
    return total


async def test_confirmed_publishes_and_failures_are_counted(topology: Topology) -> None:
    await declare_with_connection(AMQP_URL, topology)
    broker = RabbitBroker(AMQP_URL)
    publisher = EventPublisher(broker, topology, [ReminderDue])
    event = examples()["reminder.due"]
    labels = {"exchange": "bs.internal", "event_type": "reminder.due"}
    clinic = {"clinic": event.clinic_id, "event_type": "reminder.due"}
    before = (
        sample("bs_events_published_total", **labels),
        sample("bs_clinic_events_published_total", **clinic),
        sample("bs_event_publish_seconds_count", exchange="bs.internal"),
    )
    await broker.start()
    try:
        await publisher.publish(event)
    finally:
        await broker.stop()
    assert sample("bs_events_published_total", **labels) == before[0] + 1
    assert sample("bs_clinic_events_published_total", **clinic) == before[1] + 1
    assert sample("bs_event_publish_seconds_count", exchange="bs.internal") == before[2] + 1

    failed_before = failures("bs.internal", "reminder.due")
    with pytest.raises(IncorrectState):  # the broker is stopped
        await publisher.publish(event)
    assert failures("bs.internal", "reminder.due") == failed_before + 1
    assert sample("bs_events_published_total", **labels) == before[0] + 1


async def test_one_replica_reports_the_backlog_so_replicas_sum_to_the_truth(
    redis: Redis, namespace: str
) -> None:
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 2))
    now = datetime.now(UTC)
    due = {"a": now - timedelta(seconds=300), "b": now - timedelta(seconds=5)}
    due["c"] = now + timedelta(hours=1)
    for n, (member, at) in enumerate(due.items()):
        await redis.zadd(store.keys.shard(n % 2).due, {member: int(at.timestamp() * 1000)})
    pending, overdue, next_due = await store.backlog()
    assert (pending, overdue) == (3, 2)

    key = f"{namespace}:lease"
    replicas = {name: await holds_lease(redis, key, name, 10_000) for name in ("r1", "r2", "r3")}
    assert list(replicas.values()).count(True) == 1
    assert await holds_lease(redis, key, "r1", 10_000)  # the holder renews it
    exported = []
    for reporting in replicas.values():  # what each replica's /metrics would say
        export_backlog(reporting, pending, overdue, next_due)
        exported.append(
            (sample("bs_scheduler_pending_timers"), sample("bs_scheduler_overdue_timers"))
        )
    assert [sum(column) for column in zip(*exported, strict=True)] == [3, 2]
    assert max(e[0] for e in exported) == 3

    export_backlog(True, pending, overdue, next_due)
    assert 299 < sample("bs_scheduler_oldest_overdue_seconds") < 330

    await redis.pexpire(key, 1)  # the holder died: another replica takes over
    await asyncio.sleep(0.01)
    assert await holds_lease(redis, key, "r2", 10_000)
    assert not await holds_lease(redis, key, "r1", 10_000)


async def test_the_backlog_loop_exports_even_when_publishing_fails(
    redis: Redis, namespace: str
) -> None:
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 1))
    late = datetime.now(UTC) - timedelta(seconds=60)
    await redis.zadd(store.keys.shard(0).due, {"x": int(late.timestamp() * 1000)})

    async def broker_down(_: SchedulerBacklogReported) -> None:
        raise ConnectionError("broker down")

    task = asyncio.create_task(report_backlog(store, broker_down, f"{namespace}-r", 0.05))
    try:
        await wait_for(lambda: sample("bs_scheduler_backlog_reporter") == 1, timeout=5)
        await wait_for(lambda: sample("bs_scheduler_overdue_timers") == 1, timeout=5)
        assert sample("bs_scheduler_oldest_overdue_seconds") >= 60
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_circuit_state_gauge_opens_and_closes_by_itself(redis: Redis, namespace: str) -> None:
    breaker = CircuitBreaker(redis, namespace, threshold=2, window=10, open_for=1)
    provider = f"prov-{namespace}"
    assert await breaker.open_for_seconds(provider) == 0
    assert sample("bs_notifier_circuit_open", provider=provider) == 0
    assert not await breaker.record_failure(provider)
    assert await breaker.record_failure(provider)
    assert sample("bs_notifier_circuit_open", provider=provider) == 1
    # Another replica sees it open in Redis before its own send.
    other = CircuitBreaker(redis, namespace, threshold=2, window=10, open_for=1)
    assert await other.open_for_seconds(provider) > 0
    assert sample("bs_notifier_circuit_open", provider=provider) == 1
    await asyncio.sleep(1.1)  # the open period ends with no send looking again
    assert sample("bs_notifier_circuit_open", provider=provider) == 0
