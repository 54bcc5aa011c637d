"""The tracker gathers the services' erasure reports and answers once (real Redis)."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from shared.contracts import ClientErased, ClientErasureCompleted, Event, new_envelope
from shared.erasure import erasure_report
from tracker.store import TrackerStore
from tracker.usecases.erasure import Erasures

pytestmark = pytest.mark.integration

CLINIC = "clinic-harbourview-trauma-informed-counselling-collective-5e2b"


class Recorded:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail = False

    async def publish(self, event: Event) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.events.append(event)


async def test_the_answer_waits_for_every_service_and_comes_once(
    redis: Redis, namespace: str
) -> None:
    published = Recorded()
    erasures = Erasures(TrackerStore(redis, f"{namespace}:bs:tracker"), published)
    erased = ClientErased(**new_envelope(), clinic_id=CLINIC, client_ref=str(uuid.uuid4()))

    counts = await erasures.erase(erased)  # nothing held: zeros, and the tracker's report
    assert set(counts.values()) == {0}
    assert not await erasures.reported(erasure_report(erased, "scheduler", {"timers": 3}))
    # A redelivered report (which deleted nothing more) keeps the first counts.
    assert not await erasures.reported(erasure_report(erased, "scheduler", {"timers": 0}))
    published.fail = True
    with pytest.raises(ConnectionError):
        await erasures.reported(erasure_report(erased, "notifier", {"contacts": 1}))
    published.fail = False  # the report's redelivery announces it
    assert await erasures.reported(erasure_report(erased, "notifier", {"contacts": 1}))
    [answer] = published.events
    assert isinstance(answer, ClientErasureCompleted)
    assert answer.counts["scheduler"] == {"timers": 3}
    assert answer.counts["notifier"] == {"contacts": 1}
    assert answer.erasure_event_id == erased.event_id
    assert answer.client_ref == erased.client_ref

    # Once announced, a repeat of the same erasure announces nothing more.
    await erasures.erase(erased)
    assert not await erasures.reported(erasure_report(erased, "notifier", {}))
    assert len(published.events) == 1
    gathered = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
    assert all(erased.client_ref.encode() not in k for k in gathered)
