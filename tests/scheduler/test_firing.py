"""The firing loop on the real Redis: an unreadable timer is dropped instead of blocking
its batch forever, a reminder whose publish fails stays leased and fires later, and a
shard is claimed when due, at least every max_sleep, or at once when woken."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from redis.asyncio import Redis

from scheduler.firing import Firer, Publish
from scheduler.keys import Keys
from scheduler.replan import fire_info
from scheduler.store import TimerStore
from shared.contracts import ReminderDue
from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.ids import TimerMember
from tests.scheduler.support import assignment_at

pytestmark = pytest.mark.integration


def member(n: int, at: datetime) -> str:
    return TimerMember(f"c1/asg-{n}", date.today(), ReminderPurpose.REMINDER, "0900", at).encode()


async def due_store(redis: Redis, namespace: str, infos: dict[int, str]) -> TimerStore:
    """One shard with a timer per entry (if any), due a second ago."""
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 1))
    at = datetime.now(UTC) - timedelta(seconds=1)
    shard = store.keys.shard(0)
    if infos:
        await redis.zadd(shard.due, {member(n, at): int(at.timestamp() * 1000) for n in infos})
        await redis.hset(shard.fire, mapping={f"c1/asg-{n}": info for n, info in infos.items()})
    return store


def firer(store: TimerStore, publish: Publish, lease_seconds: float = 30) -> Firer:
    return Firer(
        store,
        publish,
        lease_seconds=lease_seconds,
        batch=100,
        concurrency=8,
        max_sleep=1,
        wake=asyncio.Event(),
    )


async def test_an_unreadable_timer_is_dropped_and_the_rest_fire(
    redis: Redis, namespace: str
) -> None:
    good = fire_info("cl-1", 1, assignment_at(1, datetime.now(UTC)), "pol-1")
    bad_kind = json.dumps({**json.loads(good), "k": "astrology"})
    store = await due_store(redis, namespace, {1: good, 2: "{not json", 3: bad_kind})
    sent: list[ReminderDue] = []

    async def publish(event: ReminderDue) -> None:
        sent.append(event)

    loop = firer(store, publish)
    await loop.fire_once()
    assert [e.assignment_id for e in sent] == ["asg-1"]
    await loop.flush()  # acks what was published (normally the shard's next claim does)
    assert await redis.zcard(store.keys.shard(0).due) == 0  # nothing left to re-lease


async def test_a_failed_publish_keeps_the_timer_leased_until_it_fires(
    redis: Redis, namespace: str
) -> None:
    good = fire_info("cl-1", 1, assignment_at(1, datetime.now(UTC)), "pol-1")
    store = await due_store(redis, namespace, {1: good})
    sent: list[ReminderDue] = []

    async def broker_down(event: ReminderDue) -> None:
        raise ConnectionError("broker unreachable")

    async def publish(event: ReminderDue) -> None:
        sent.append(event)

    await firer(store, broker_down, lease_seconds=0.3).fire_once()
    assert await redis.zcard(store.keys.shard(0).due) == 1  # leased, not acked
    await asyncio.sleep(0.4)
    loop = firer(store, publish)
    await loop.fire_once()
    assert [e.assignment_id for e in sent] == ["asg-1"]
    assert await redis.zcard(store.keys.shard(0).due) == 1  # published, ack pending
    await asyncio.sleep(loop.ack_within)  # the shard is looked at again by then
    await loop.fire_once()  # and its claim acks it
    assert await redis.zcard(store.keys.shard(0).due) == 0


async def test_a_shard_is_claimed_when_due_at_least_every_max_sleep_or_when_woken(
    redis: Redis, namespace: str
) -> None:
    info = fire_info("cl-1", 1, assignment_at(1, datetime.now(UTC)), "pol-1")
    store = await due_store(redis, namespace, {})
    sent: list[ReminderDue] = []

    async def publish(event: ReminderDue) -> None:
        sent.append(event)

    loop = firer(store, publish)
    loop.max_sleep = 0.5
    assert await loop.fire_once() == pytest.approx(0.5, abs=0.05)  # nothing anywhere
    await due_store(redis, namespace, {1: info})  # added behind its back, no wake-up
    await loop.fire_once()
    assert sent == []  # the shard had nothing due when last seen: not claimed again yet
    await asyncio.sleep(0.5)
    await loop.fire_once()
    assert [e.assignment_id for e in sent] == ["asg-1"]

    running = asyncio.create_task(loop.run())
    try:
        await asyncio.sleep(0.1)  # asleep for up to max_sleep now
        await due_store(redis, namespace, {2: info})
        loop.wake.set()  # what a replica that adds an earlier timer does
        await asyncio.sleep(0.1)
        assert [e.assignment_id for e in sent] == ["asg-1", "asg-2"]
    finally:
        running.cancel()


async def test_a_timer_is_handed_over_ahead_of_its_time_and_no_earlier(
    redis: Redis, namespace: str
) -> None:
    """SCHEDULER_FIRE_AHEAD_MS: a timer due within it is claimed now (its event still says
    its time: the notifier sends then); one due later is not, and the loop wakes for it
    that much before its time."""
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 1))
    shard = store.keys.shard(0)
    now = datetime.now(UTC)
    soon, later = now + timedelta(milliseconds=800), now + timedelta(seconds=5)
    timers = {member(1, soon): soon, member(2, later): later}
    await redis.zadd(shard.due, {m: int(at.timestamp() * 1000) for m, at in timers.items()})
    assert (await store.claim(0, 10, 30_000)).members == []  # not due yet, none ahead
    claimed = await store.claim(0, 10, 30_000, ahead_ms=1500)
    assert claimed.members == [member(1, soon)]
    info = fire_info("cl-1", 1, assignment_at(1, later), "pol-1")
    await redis.hset(shard.fire, "c1/asg-2", info)
    loop = Firer(
        store,
        publish=lambda _e: asyncio.sleep(0),
        lease_seconds=30,
        batch=10,
        concurrency=8,
        max_sleep=10,
        wake=asyncio.Event(),
        ahead_ms=1500,
    )
    # The next timer is 5 s away: the loop sleeps until 1.5 s before it.
    assert 3.0 < await loop.fire_once() < 3.6


async def test_a_claimed_timer_is_not_taken_again_ahead_of_its_lease_end(
    redis: Redis, namespace: str
) -> None:
    """Fire-ahead is for timers nobody holds: one claimed by a replica (its score is its
    lease's end) is due again at that end, not ``ahead`` of it, so a live replica's
    claim keeps its whole lease; the loop looks again when the lease ends."""
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 1))
    shard = store.keys.shard(0)
    at = datetime.now(UTC) - timedelta(seconds=1)
    await redis.zadd(shard.due, {member(1, at): int(at.timestamp() * 1000)})
    first = await store.claim(0, 10, 1000, ahead_ms=1500)  # leased for 1 s
    assert first.members == [member(1, at)]
    again = await store.claim(0, 10, 1000, ahead_ms=1500)  # its lease ends within 1.5 s
    assert again.members == []
    assert again.next_look_ms == first.lease_ms  # at the lease's end, not 1.5 s before
    await asyncio.sleep(1.1)
    assert (await store.claim(0, 10, 1000, ahead_ms=1500)).members == [member(1, at)]
