"""After a change that altered a client's plan, the scheduler tells the tracker what it now
plans and why, in batches (``client.plans.changed``, one clinic each, within a round of
``plan_announce_seconds``): the timers' own reminder ids, the instants quiet hours moved
them from, and what the caps held back. Once per event; a publish that failed is retried
by the announcer, and a redelivery of an event queues its plan again."""

from __future__ import annotations

import asyncio
import time as clock
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from scheduler.announce import Announcer
from scheduler.app import create_app
from scheduler.handlers import handle, once
from scheduler.keys import Keys
from scheduler.replan import Replanner
from scheduler.settings import SchedulerSettings
from scheduler.store import AlreadyHandled, TimerStore
from shared.contracts import (
    ActivityAssigned,
    Caps,
    ClientPlan,
    ClientPlansChanged,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    QuietHours,
    new_envelope,
)
from shared.contracts.ehr import ChannelConsent
from shared.planning.ids import TimerMember
from shared.topology import Topology
from tests.scheduler.support import (
    POLICY,
    DueCollector,
    assignment_at,
    collect_due,
    policy_event,
    publish,
    soon,
)
from tests.support.infra import wait_for
from tests.support.services import running

pytestmark = pytest.mark.integration

# Clinics choose their ids: long ones, and the same client and assignment ids in both.
CLINICS = (
    "northside-community-counselling-and-family-therapy-practice-0001",
    "northside-community-counselling-and-family-therapy-practice-0002",
)
PLANS_CHANGED = "client.plans.changed"
# Two reminders a day from tomorrow (UTC), for a client allowed one a day.
EARLY = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(10), UTC)
LATE = EARLY.replace(hour=14)
SHARDS = 4


def settings(topology: Topology) -> SchedulerSettings:
    return SchedulerSettings.model_validate(
        {"namespace": topology.namespace, "shard_count": SHARDS}
    )


def store_of(redis: Redis, topology: Topology) -> TimerStore:
    return TimerStore(redis, Keys(f"{topology.namespace}:bs:scheduler", SHARDS))


def assigned(
    clinic: str, client: str, assignment: str, *at: datetime, policy: str = POLICY
) -> ActivityAssigned:
    """A daily activity with a reminder at each of ``at`` (UTC times of day)."""
    event = assignment_at(0, at[0], client=client)
    schedule = event.schedule.model_copy(
        update={"times_of_day": tuple(t.time().replace(microsecond=0) for t in at)}
    )
    return event.model_copy(
        update={
            "clinic_id": clinic,
            "assignment_id": assignment,
            "schedule": schedule,
            "policy_id": policy,
        }
    )


def policy_in(clinic: str, caps: Caps | None = None) -> ClinicPolicyChanged:
    event = policy_event()
    policy = event.policy.model_copy(update={"caps": caps}) if caps else event.policy
    return event.model_copy(update={"clinic_id": clinic, "policy": policy})


def batches(collector: DueCollector, clinic: str) -> list[ClientPlansChanged]:
    return [
        ClientPlansChanged.model_validate(r) for r in collector.received if r["clinic_id"] == clinic
    ]


def announced(collector: DueCollector, clinic: str) -> list[ClientPlan]:
    return [p for batch in batches(collector, clinic) for p in batch.plans]


def plan_count(collector: DueCollector) -> int:
    return sum(len(r["plans"]) for r in collector.received)


async def timer_ids(store: TimerStore, clinic: str, client: str) -> list[str]:
    state = await store.load_client(f"{clinic}/{client}")
    return sorted(TimerMember.decode(m).reminder_id for m in state.timers)


async def test_an_assignment_announces_the_timers_it_planned_in_each_clinic(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis
) -> None:
    client, assignment = str(uuid4()), str(uuid4())
    store = store_of(redis, topology)
    event = assigned(CLINICS[0], client, assignment, soon(3600), soon(7200))
    async with (
        running(create_app(settings(topology))),
        collect_due(rabbit_channel, topology, PLANS_CHANGED) as plans,
    ):
        for clinic in CLINICS:
            await publish(rabbit_channel, topology, policy_in(clinic))
        await asyncio.sleep(0.5)
        started = clock.monotonic()
        for clinic in CLINICS:  # the same event id too
            await publish(rabbit_channel, topology, event.model_copy(update={"clinic_id": clinic}))
        await wait_for(lambda: plan_count(plans) >= 2, timeout=10)
        assert clock.monotonic() - started < 1.5  # a round (0.5 s) after the re-plan
        for clinic in CLINICS:
            (batch,) = batches(plans, clinic)  # a batch per clinic, even in one round
            (plan,) = batch.plans
            assert sorted(i.reminder_id for i in plan.upcoming) == await timer_ids(
                store, clinic, client
            )
            assert plan.client_ref == client
            assert plan.cause == "activity.assigned"
            assert {i.assignment_id for i in plan.upcoming} == {assignment}
            assert len(plan.upcoming) == 14  # two a day for the 7-day horizon
            assert [i.planned_for for i in plan.upcoming] == sorted(
                i.planned_for for i in plan.upcoming
            )
            assert all(i.moved_from is None for i in plan.upcoming)
            assert (plan.held_back, plan.truncated) == ((), False)
            assert plan.correlation_id == event.correlation_id
            assert plan.causation_id == event.event_id
            assert plan.horizon_end > soon(6 * 86400)
            assert plan.planned_at <= batch.occurred_at
    first, second = (announced(plans, c)[0] for c in CLINICS)
    assert not {i.reminder_id for i in first.upcoming} & {i.reminder_id for i in second.upcoming}


async def test_quiet_hours_and_caps_say_why(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis
) -> None:
    clinic, client = CLINICS[0], str(uuid4())
    at = soon(2 * 3600).replace(minute=30, second=0)  # inside the client's quiet hours
    quiet = QuietHours(
        start=time((at.hour - 1) % 24, 0), end=time((at.hour + 1) % 24, 0)
    )  # their local night, here UTC
    prefs = ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=clinic,
        client_ref=client,
        version=1,
        timezone="UTC",
        quiet_hours=quiet,
        consent=ChannelConsent(sms=True, email=True, push=True),
    )
    capped_client = str(uuid4())
    tight = policy_in(clinic, Caps(per_day=1, per_week=100))
    tight = tight.model_copy(update={"policy": tight.policy.model_copy(update={"policy_id": "p2"})})
    async with (
        running(create_app(settings(topology))),
        collect_due(rabbit_channel, topology, PLANS_CHANGED) as plans,
    ):
        for event in (policy_in(clinic), tight, prefs):
            await publish(rabbit_channel, topology, event)
        await asyncio.sleep(0.5)
        await publish(rabbit_channel, topology, assigned(clinic, client, str(uuid4()), at))
        two_a_day = assigned(clinic, capped_client, str(uuid4()), EARLY, LATE, policy="p2")
        await publish(rabbit_channel, topology, two_a_day)
        await wait_for(lambda: plan_count(plans) >= 2, timeout=10)
    by_client = {p.client_ref: p for p in announced(plans, clinic)}

    moved = by_client[client].upcoming[0]
    assert moved.moved_from == at
    assert moved.planned_for == at + timedelta(minutes=30)  # the end of their quiet hours
    assert moved.planned_for.time() == quiet.end

    held = by_client[capped_client]
    assert {i.slot for i in held.upcoming} == {"1000"}  # one a day: the earlier slot
    assert {(h.reason, h.would_fire_at.time()) for h in held.held_back} == {
        ("cap_per_day", LATE.time())
    }
    days = [h.occurrence_date for h in held.held_back]
    assert days == sorted(set(days))
    assert 6 <= len(held.held_back) <= 7  # from tomorrow, to the horizon's end


async def test_a_duplicate_event_announces_nothing_new(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    clinic = CLINICS[1]
    event = assigned(clinic, str(uuid4()), str(uuid4()), soon(3600))
    async with (
        running(create_app(settings(topology))),
        collect_due(rabbit_channel, topology, PLANS_CHANGED) as plans,
    ):
        await publish(rabbit_channel, topology, policy_in(clinic))
        await asyncio.sleep(0.5)
        await publish(rabbit_channel, topology, event)
        await wait_for(lambda: plan_count(plans) >= 1, timeout=10)
        await publish(rabbit_channel, topology, event)
        await publish(rabbit_channel, topology, event.model_copy(update={"event_id": uuid4()}))
        await asyncio.sleep(1.5)  # anything else would arrive by now (rounds of 0.5 s)
    assert plan_count(plans) == 1


class FlakyBroker:
    """A ``publish`` that fails while ``down``, recording what got through."""

    def __init__(self) -> None:
        self.down = False
        self.published: list[ClientPlansChanged] = []

    async def publish(self, event: object) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        assert isinstance(event, ClientPlansChanged)
        self.published.append(event)

    def plans(self) -> list[ClientPlan]:
        return [p for batch in self.published for p in batch.plans]


def replanner_of(store: TimerStore, announcer: Announcer) -> Replanner:
    return Replanner(
        store,
        timedelta(days=7),
        timedelta(hours=24),
        timedelta(seconds=5),
        asyncio.Event(),
        announce=announcer.add,
    )


async def test_the_announcer_retries_what_a_failed_publish_kept(
    topology: Topology, redis: Redis
) -> None:
    store = store_of(redis, topology)
    broker = FlakyBroker()
    announcer = Announcer(broker.publish, every=0.05)
    replanner = replanner_of(store, announcer)
    clinic, client = CLINICS[0], str(uuid4())
    await handle(replanner, policy_in(clinic))
    event = assigned(clinic, client, str(uuid4()), soon(3600))

    broker.down = True
    runs = asyncio.create_task(announcer.run())
    assert await handle(replanner, event)  # a re-plan never waits on the broker
    await asyncio.sleep(0.3)  # a few rounds fail
    assert (broker.published, len(announcer)) == ([], 1)
    broker.down = False
    await wait_for(lambda: len(broker.published) == 1, timeout=2)
    runs.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runs
    (plan,) = broker.plans()
    assert sorted(i.reminder_id for i in plan.upcoming) == await timer_ids(store, clinic, client)
    assert (plan.causation_id, len(announcer)) == (event.event_id, 0)


async def test_a_redelivery_queues_the_plan_again(topology: Topology, redis: Redis) -> None:
    """The replica may have died between the commit and the round that would announce it:
    the event's redelivery (not yet marked seen) announces again."""
    store = store_of(redis, topology)
    broker = FlakyBroker()
    announcer = Announcer(broker.publish, every=60)
    replanner = replanner_of(store, announcer)
    clinic, client = CLINICS[0], str(uuid4())
    await handle(replanner, policy_in(clinic))
    event = assigned(clinic, client, str(uuid4()), soon(3600))

    assert await handle(replanner, event)
    lost = Announcer(broker.publish, every=60)  # the replica that died: its plans are gone
    replanner.announce = lost.add
    assert await handle(replanner, event)  # the redelivery
    assert await lost.flush()
    (plan,) = broker.plans()
    assert sorted(i.reminder_id for i in plan.upcoming) == await timer_ids(store, clinic, client)
    await store.mark_seen(*once(event))
    with pytest.raises(AlreadyHandled):
        await handle(replanner, event)

    # The same for a policy change: every user of the policy is re-planned and announced.
    newer = policy_in(clinic, Caps(per_day=3, per_week=20))
    newer = newer.model_copy(update={"policy": newer.policy.model_copy(update={"version": 2})})
    assert await handle(replanner, newer)
    assert await handle(replanner, newer)  # redelivered before it was marked seen
    assert await lost.flush()
    again = broker.plans()[-1]
    assert (again.cause, again.client_ref, again.causation_id) == (
        "policy.changed",
        client,
        newer.event_id,
    )
    assert len(broker.published) == 2  # the newest plan once, not one per re-plan
    assert await handle(replanner, newer.model_copy(update={"event_id": uuid4()})) is False
