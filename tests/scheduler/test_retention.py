"""Idle clients leave the scheduler's Redis: marked on a horizon roll, deleted once they
stayed idle for the retention (real Redis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from scheduler.handlers import handle
from scheduler.keys import Keys
from scheduler.replan import Replanner, client_key, policy_key
from scheduler.retention import IDLE_RETENTION, forget_if_idle, is_idle
from scheduler.store import TimerStore
from shared.contracts import ActivityCancelled, ClientPreferencesChanged, new_envelope
from tests.scheduler.support import CLINIC, POLICY, assignment_at, ignore, policy_event, soon

pytestmark = pytest.mark.integration


@pytest.fixture
def replanner(redis: Redis, namespace: str) -> Replanner:
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 4))
    return Replanner(
        store,
        timedelta(days=7),
        timedelta(hours=24),
        timedelta(seconds=5),
        asyncio.Event(),
        announce=ignore,
    )


def cancel(n: int, client: str) -> ActivityCancelled:
    return ActivityCancelled(
        **new_envelope(), clinic_id=CLINIC, assignment_id=f"asg-{n}", version=2, client_ref=client
    )


async def test_a_cancelled_client_is_marked_then_forgotten_after_the_retention(
    replanner: Replanner,
) -> None:
    store, client = replanner.store, "cl-idle"
    key = client_key(CLINIC, client)
    await handle(replanner, policy_event())
    await handle(replanner, assignment_at(1, soon(3600), client=client))
    now = datetime.now(UTC)
    assert not await forget_if_idle(replanner, key, now)  # a timer is pending
    await handle(replanner, cancel(1, client))
    state = await store.load_client(key)
    assert is_idle(state, now)

    assert await forget_if_idle(replanner, key, now)  # marked, kept
    assert (await store.load_client(key)).rev == state.rev
    assert await forget_if_idle(replanner, key, now + IDLE_RETENTION / 2)  # still kept
    assert (await store.load_client(key)).rev == state.rev

    assert await forget_if_idle(replanner, key, now + IDLE_RETENTION + timedelta(hours=1))
    assert (await store.load_client(key)).rev == 0  # gone
    shard = store.keys.shard(store.keys.shard_of(key))
    assert await store.redis.zscore(shard.clients, key) is None
    # Its cancelled record no longer named the policy: the next policy change drops
    # the membership instead of bringing the client back.
    users = store.keys.policy_users(policy_key(CLINIC, POLICY))
    assert await store.redis.sismember(users, key)
    await handle(replanner, policy_event(version=2))
    assert not await store.redis.sismember(users, key)
    assert (await store.load_client(key)).rev == 0


async def test_any_event_after_the_mark_starts_the_idle_time_again(
    replanner: Replanner,
) -> None:
    store, client = replanner.store, "cl-back"
    key = client_key(CLINIC, client)
    await handle(replanner, policy_event())
    await handle(replanner, assignment_at(2, soon(3600), client=client))
    await handle(replanner, cancel(2, client))
    now = datetime.now(UTC)
    assert await forget_if_idle(replanner, key, now)
    await handle(
        replanner,
        ClientPreferencesChanged(
            **new_envelope(), clinic_id=CLINIC, client_ref=client, version=1, timezone="UTC"
        ),
    )
    later = now + IDLE_RETENTION + timedelta(hours=1)
    assert await forget_if_idle(replanner, key, later)  # the old mark is stale: marked anew
    assert (await store.load_client(key)).rev > 0
    assert await forget_if_idle(replanner, key, later + IDLE_RETENTION + timedelta(hours=1))
    assert (await store.load_client(key)).rev == 0


async def test_an_active_client_is_never_idle(replanner: Replanner) -> None:
    client = "cl-active"
    await handle(replanner, policy_event())
    await handle(replanner, assignment_at(3, soon(3600), client=client))
    key = client_key(CLINIC, client)
    far = datetime.now(UTC) + IDLE_RETENTION * 3
    state = await replanner.store.load_client(key)
    assert not is_idle(state, datetime.now(UTC))
    assert not is_idle(state.model_copy(update={"timers": []}), far)  # open-ended daily
