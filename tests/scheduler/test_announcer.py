"""The announcer on its own, with a fake publish: plans batched per clinic, newest per
client, split to fit, kept until a publish succeeds, flushed when cancelled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.announce import Announcer
from shared.contracts import ClientPlan, ClientPlansChanged, Event

AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def plan(client: str, minutes: int = 0) -> ClientPlan:
    at = AT + timedelta(minutes=minutes)
    return ClientPlan(
        client_ref=client,
        cause="activity.assigned",
        correlation_id="corr-1",
        planned_at=at,
        horizon_end=at + timedelta(days=7),
    )


class Broker:
    def __init__(self) -> None:
        self.down = False
        self.batches: list[ClientPlansChanged] = []

    async def publish(self, event: Event) -> None:
        await asyncio.sleep(0)  # a publish waits for its confirm
        if self.down:
            raise ConnectionError("broker unreachable")
        assert isinstance(event, ClientPlansChanged)
        self.batches.append(event)

    def by_clinic(self) -> dict[str, list[list[str]]]:
        seen: dict[str, list[list[str]]] = {}
        for batch in self.batches:
            seen.setdefault(batch.clinic_id, []).append([p.client_ref for p in batch.plans])
        return seen


async def test_a_batch_per_clinic_with_the_newest_plan_of_each_client() -> None:
    broker = Broker()
    announcer = Announcer(broker.publish, every=60)
    announcer.add("a/c1", plan("c1"))
    announcer.add("b/c1", plan("c1"))  # the same client ref in another clinic
    announcer.add("a/c2", plan("c2"))
    announcer.add("a/c1", plan("c1", minutes=1))
    assert len(announcer) == 3
    assert await announcer.flush()
    assert broker.by_clinic() == {"a": [["c1", "c2"]], "b": [["c1"]]}
    (a,) = (b for b in broker.batches if b.clinic_id == "a")
    assert a.plans[0].planned_at == AT + timedelta(minutes=1)
    assert (len(announcer), await announcer.flush(), len(broker.batches)) == (0, True, 2)


async def test_batches_are_split_by_count_and_by_size() -> None:
    broker = Broker()
    size = len(plan("c00").model_dump_json()) + 1
    announcer = Announcer(broker.publish, every=60, max_plans=3, max_bytes=2 * size)
    for n in range(5):
        announcer.add(f"a/c{n:02}", plan(f"c{n:02}"))
    assert await announcer.flush()
    assert broker.by_clinic() == {"a": [["c00", "c01"], ["c02", "c03"], ["c04"]]}

    broker.batches.clear()
    announcer.max_bytes = 1_000_000
    for n in range(7):
        announcer.add(f"a/c{n:02}", plan(f"c{n:02}"))
    assert await announcer.flush()
    assert [len(b) for b in broker.by_clinic()["a"]] == [3, 3, 1]


async def test_a_failed_publish_keeps_the_plans_for_the_next_round() -> None:
    broker = Broker()
    announcer = Announcer(broker.publish, every=60)
    announcer.add("a/c1", plan("c1"))
    announcer.add("b/c2", plan("c2"))
    broker.down = True
    assert not await announcer.flush()
    assert len(announcer) == 2
    broker.down = False
    announcer.add("a/c1", plan("c1", minutes=1))  # replaces the one that failed
    assert await announcer.flush()
    assert broker.by_clinic() == {"a": [["c1"]], "b": [["c2"]]}
    assert broker.batches[0].plans[0].planned_at == AT + timedelta(minutes=1)
    assert len(announcer) == 0


async def test_a_plan_added_during_a_publish_waits_for_the_next_round() -> None:
    broker = Broker()
    announcer = Announcer(broker.publish, every=60)
    announcer.add("a/c1", plan("c1"))
    flushing = asyncio.create_task(announcer.flush())
    await asyncio.sleep(0)  # the publish has the first plan and waits
    announcer.add("a/c1", plan("c1", minutes=1))
    assert await flushing
    assert len(announcer) == 1  # the newer one was not published yet
    assert await announcer.flush()
    assert [b.plans[0].planned_at for b in broker.batches] == [AT, AT + timedelta(minutes=1)]


async def test_rounds_run_on_time_or_when_enough_wait_and_cancelling_flushes() -> None:
    broker = Broker()
    announcer = Announcer(broker.publish, every=0.05, flush_at=3)
    runs = asyncio.create_task(announcer.run())
    announcer.add("a/c1", plan("c1"))
    await asyncio.sleep(0.2)
    assert broker.by_clinic() == {"a": [["c1"]]}  # on time

    announcer.every = 60
    await asyncio.sleep(0.1)  # the round that started with the old period ends
    broker.batches.clear()
    for n in range(3):
        announcer.add(f"a/c{n}", plan(f"c{n}"))
    await asyncio.sleep(0.01)
    assert broker.by_clinic() == {"a": [["c0", "c1", "c2"]]}  # enough waiting

    announcer.add("b/c9", plan("c9"))
    runs.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runs
    assert broker.by_clinic()["b"] == [["c9"]]  # flushed as the service stops
    assert len(announcer) == 0


async def test_rounds_go_on_after_a_failure() -> None:
    broker = Broker()
    broker.down = True
    announcer = Announcer(broker.publish, every=0.02)
    runs = asyncio.create_task(announcer.run())
    announcer.add("a/c1", plan("c1"))
    await asyncio.sleep(0.1)
    assert (broker.batches, len(announcer)) == ([], 1)
    broker.down = False
    await asyncio.sleep(0.1)
    runs.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runs
    assert broker.by_clinic() == {"a": [["c1"]]}
