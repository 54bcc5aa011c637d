"""Clinics choose their own identifiers, so two clinics can send the same assignment id,
client ref and even event id. The scheduler keeps them apart: separate client states,
timers and reminder ids, and an event id seen in one clinic is not a duplicate in another."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from scheduler.app import create_app
from scheduler.keys import Keys
from scheduler.settings import SchedulerSettings
from scheduler.store import TimerStore
from shared.contracts import ActivityAssigned, ActivityCancelled, new_envelope
from shared.planning.ids import TimerMember
from shared.topology import Topology
from tests.scheduler.support import assignment_at, collect_due, policy_event, publish, soon
from tests.support.infra import wait_for
from tests.support.services import running

pytestmark = pytest.mark.integration

CLINICS = ("clinic-1", "clinic-2")
SHARDS = 4


def same_ids_in(clinic: str, n: int, at: datetime) -> ActivityAssigned:
    """Assignment ``asg-<n>`` of client ``cl-1``, one reminder at ``at``: the same ids,
    event id included, in every clinic (model_copy keeps the event id)."""
    event = assignment_at(n, at, client="cl-1")
    schedule = event.schedule.model_copy(update={"end": event.schedule.start})
    return event.model_copy(update={"clinic_id": clinic, "schedule": schedule})


async def timers(store: TimerStore, clinic: str) -> list[TimerMember]:
    state = await store.load_client(f"{clinic}/cl-1")
    return [TimerMember.decode(m) for m in state.timers]


async def test_two_clinics_with_the_same_ids_get_their_own_timers_and_reminders(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis
) -> None:
    cfg = SchedulerSettings.model_validate({"namespace": topology.namespace, "shard_count": SHARDS})
    store = TimerStore(redis, Keys(f"{topology.namespace}:bs:scheduler", SHARDS))
    at = soon(8)
    policy = policy_event()
    first, second = same_ids_in(CLINICS[0], 1, at), same_ids_in(CLINICS[0], 2, at)
    async with running(create_app(cfg)), collect_due(rabbit_channel, topology) as due:
        for clinic in CLINICS:  # one event id per event, whichever clinic sends it
            await publish(rabbit_channel, topology, policy.model_copy(update={"clinic_id": clinic}))
        await asyncio.sleep(0.5)
        for clinic in CLINICS:
            for event in (first, second):
                await publish(
                    rabbit_channel, topology, event.model_copy(update={"clinic_id": clinic})
                )

        async def both_planned() -> bool:
            return [len(await timers(store, clinic)) for clinic in CLINICS] == [2, 2]

        await wait_for(both_planned, timeout=10)
        planned = {clinic: await timers(store, clinic) for clinic in CLINICS}
        ids = {clinic: {t.reminder_id for t in planned[clinic]} for clinic in CLINICS}
        assert not ids[CLINICS[0]] & ids[CLINICS[1]]
        assert {t.key for t in planned[CLINICS[1]]} == {"clinic-2/asg-1", "clinic-2/asg-2"}

        # Cancelling clinic 2's asg-2 leaves clinic 1's asg-2 alone.
        cancel = ActivityCancelled(
            **new_envelope(),
            clinic_id=CLINICS[1],
            assignment_id="asg-2",
            version=2,
            client_ref="cl-1",
        )
        await publish(rabbit_channel, topology, cancel)
        await wait_for(lambda: len(reminders(due.received)) >= 3, timeout=20)
        await asyncio.sleep(1.5)  # anything else would arrive by now
    # Clinic 1's two reminders are due at the same instant: one reminder.due carries the
    # second in its digest; clinic 2's identical ids never join clinic 1's digest.
    assert len(due.received) == 2
    fired = sorted(
        (r["clinic_id"], r["assignment_id"], r["client_ref"]) for r in reminders(due.received)
    )
    assert fired == [
        ("clinic-1", "asg-1", "cl-1"),
        ("clinic-1", "asg-2", "cl-1"),
        ("clinic-2", "asg-1", "cl-1"),
    ]
    assert len({r["reminder_id"] for r in reminders(due.received)}) == 3
    assert len({r["event_id"] for r in due.received}) == 2


def reminders(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every reminder the events carry: each event's own and those in its digest."""
    out = []
    for event in received:
        out.append(event)
        for item in event.get("digest") or ():
            out.append({**item, "clinic_id": event["clinic_id"], "client_ref": event["client_ref"]})
    return out
