"""One client's reminders due at the same instant go as one reminder.due (a digest):
the grouping on plain values, and the firing loop publishing one event for a group on
the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from redis.asyncio import Redis

from scheduler.digests import as_digest, grouped
from scheduler.firing import Firer
from scheduler.keys import Keys
from scheduler.replan import fire_info
from scheduler.store import TimerStore
from shared.contracts import ActivityKind, ReminderDue, ReminderPurpose, derived_event_id
from shared.contracts.internal import MAX_DIGEST_ITEMS
from shared.planning.ids import TimerMember
from tests.scheduler.support import assignment_at

CLINIC = "northside-community-psychotherapy-and-counselling-centre"
AT = datetime(2026, 11, 23, 8, 0, 7, tzinfo=UTC)


def due(
    client: str, purpose: ReminderPurpose = ReminderPurpose.REMINDER, **kw: object
) -> ReminderDue:
    data: dict[str, object] = {
        "clinic_id": CLINIC,
        "reminder_id": "rem-" + uuid.uuid4().hex,
        "assignment_id": str(uuid.uuid4()),
        "assignment_version": 1,
        "client_ref": client,
        "occurrence_date": date(2026, 11, 23),
        "purpose": purpose,
        "planned_for": AT,
        "activity_kind": ActivityKind.MOOD_LOG,
        "activity_title": "Mood log",
        "policy_id": "standard-reminders",
        "correlation_id": str(uuid.uuid4()),
    }
    data.update(kw)
    return ReminderDue.model_validate(data)


def test_one_clients_reminders_at_the_same_instant_group_and_others_stay_alone() -> None:
    ana, ben = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        due(ana),
        due(ben),
        due(ana, ReminderPurpose.NUDGE),
        due(ana, planned_for=AT + timedelta(minutes=1)),  # another instant
        due(ana, ReminderPurpose.ENCOURAGEMENT),  # never grouped
        due(ana, clinic_id="another-clinic-with-the-same-client-ids"),  # another clinic
        due(ana, ReminderPurpose.LEAD),
    ]
    groups = grouped(events)
    assert sorted(groups) == [[0, 2, 6], [1], [3], [4], [5]]


def test_a_lone_reminder_is_not_looked_at() -> None:
    assert grouped([due("c")]) == [[0]]
    assert grouped([]) == []


def test_a_huge_group_is_split_at_the_contract_limit() -> None:
    events = [due("c") for _ in range(MAX_DIGEST_ITEMS + 3)]
    assert [len(g) for g in grouped(events)] == [MAX_DIGEST_ITEMS + 1, 2]


def test_the_lowest_reminder_id_leads_and_the_others_ride_in_the_digest() -> None:
    events = [due("c", activity_title=f"Activity {n}") for n in range(3)]
    lead = min(events, key=lambda e: e.reminder_id)
    event = as_digest(list(reversed(events)))
    assert event.reminder_id == lead.reminder_id
    assert event.event_id == lead.event_id
    assert [i.reminder_id for i in event.digest] == sorted(
        e.reminder_id for e in events if e is not lead
    )
    other = next(e for e in events if e is not lead)
    item = next(i for i in event.digest if i.reminder_id == other.reminder_id)
    assert item.correlation_id == other.correlation_id
    assert item.activity_title == other.activity_title
    assert as_digest([events[0]]) is events[0]


@pytest.mark.integration
async def test_the_firing_loop_publishes_one_event_for_a_group_and_acks_all(
    redis: Redis, namespace: str
) -> None:
    """Three activities of one client at 09:00 and one of another client: two events."""
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 1))
    shard = store.keys.shard(0)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    client, other = str(uuid.uuid4()), str(uuid.uuid4())
    owners = {1: client, 2: client, 3: client, 4: other}
    members = {
        n: TimerMember(f"{CLINIC}/asg-{n}", at.date(), ReminderPurpose.REMINDER, "0900", at)
        for n in owners
    }
    await redis.zadd(shard.due, {m.encode(): m.score for m in members.values()})
    await redis.hset(
        shard.fire,
        mapping={
            f"{CLINIC}/asg-{n}": fire_info(owner, 1, assignment_at(n, at), "standard-reminders")
            for n, owner in owners.items()
        },
    )
    sent: list[ReminderDue] = []

    async def publish(event: ReminderDue) -> None:
        sent.append(event)

    loop = Firer(
        store,
        publish,
        lease_seconds=30,
        batch=100,
        concurrency=8,
        max_sleep=1,
        wake=asyncio.Event(),
    )
    await loop.fire_once()
    await loop.flush()
    assert sorted(len(e.digest) for e in sent) == [0, 2]
    group = next(e for e in sent if e.digest)
    ids = sorted(members[n].reminder_id for n in (1, 2, 3))
    assert group.client_ref == client
    assert [group.reminder_id, *(i.reminder_id for i in group.digest)] == ids
    assert group.event_id == derived_event_id(ids[0])  # a re-fire carries the same id
    assert await redis.zcard(shard.due) == 0  # every timer of the group was acked
