"""Two clinics whose EHRs chose the same assignment, client and reminder ids never see or
overwrite each other's completions, summaries, alerts or delivery outcomes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.contracts import ActivityCompleted, SessionUpcoming, new_envelope
from tests.support.infra import wait_for
from tests.tracker.conftest import (
    Tracker,
    assigned,
    dispatched,
    policy_changed,
    settled,
    status,
    today_utc,
)
from tracker.migrate import migrate
from tracker.records import AssignmentRecord

pytestmark = pytest.mark.integration
DAYS = 5


def completed(clinic: str, assignment: str, client: str, day: date) -> ActivityCompleted:
    return ActivityCompleted(
        **new_envelope(),
        clinic_id=clinic,
        assignment_id=assignment,
        client_ref=client,
        occurrence_date=day,
        completed_at=datetime.now(UTC),
    )


def session(clinic: str, client: str) -> SessionUpcoming:
    return SessionUpcoming(
        **new_envelope(),
        clinic_id=clinic,
        session_id=f"sess-{uuid.uuid4()}",
        client_ref=client,
        therapist_ref="therapist-1",
        starts_at=datetime.now(UTC) + timedelta(hours=2),
        previous_session_at=datetime.now(UTC) - timedelta(days=DAYS),
    )


@pytest.mark.parametrize(
    ("assignment", "client"),
    # Fixed UUIDs: parameters must be the same in every xdist worker's collection.
    [
        ("a-1", "c-1"),
        ("0b6f7d3e-2c41-4f8a-9e5d-7a1c3b9f2e64", "5d2a9c7e-81f3-4b6d-a0e2-c4f7b18d3a95"),
    ],
)
async def test_same_ids_in_two_clinics_count_only_in_their_own(
    tracker: Tracker, assignment: str, client: str
) -> None:
    busy, quiet = f"clinic-{uuid.uuid4()}", f"clinic-{uuid.uuid4()}"
    assignments = {}
    for clinic in (busy, quiet):
        await tracker.publish(policy_changed(clinic, after_missed=3))
        assignments[clinic] = assigned(assignment, clinic=clinic, client=client, days_ago=DAYS)
        await tracker.publish(assignments[clinic])
    for days_ago in range(1, DAYS + 1):
        day = today_utc() - timedelta(days=days_ago)
        await tracker.publish(completed(busy, assignment, client, day))
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= DAYS)
    await settled(tracker)

    alerts = await tracker.runtime.escalations.sweep()
    for clinic in (busy, quiet):
        await tracker.publish(session(clinic, client))
    await wait_for(lambda: len(tracker.listener.of("adherence.summary")) >= 2)
    await settled(tracker)

    summaries = {s["clinic_id"]: s for s in tracker.listener.of("adherence.summary")}
    assert (summaries[busy]["due"], summaries[busy]["done"]) == (DAYS, DAYS)
    assert (summaries[quiet]["due"], summaries[quiet]["done"]) == (DAYS, 0)
    [alert] = tracker.listener.of("clinician.alert")
    assert alerts == 1
    assert (alert["clinic_id"], alert["consecutive_missed"]) == (quiet, DAYS)
    assert alert["correlation_id"] == assignments[quiet].correlation_id  # the EHR's
    assert {r["clinic_id"] for r in tracker.listener.of("completion.recorded")} == {busy}


async def test_the_same_reminder_id_in_two_clinics_keeps_two_outcomes(tracker: Tracker) -> None:
    one, other = f"clinic-{uuid.uuid4()}", f"clinic-{uuid.uuid4()}"
    rid = "rem-" + uuid.uuid4().hex
    await tracker.publish(dispatched(rid, one, assignment_id="a-1"))
    await tracker.publish(dispatched(rid, other, assignment_id="a-1"))
    await settled(tracker, 0.2)
    await tracker.publish(status(rid, "delivered", clinic=one))
    await wait_for(lambda: len(tracker.listener.of("reminder.delivered")) >= 1)
    await tracker.publish(status(rid, "undelivered", clinic=other))
    await wait_for(lambda: len(tracker.listener.of("reminder.failed")) >= 1)
    await settled(tracker)
    [delivered] = tracker.listener.of("reminder.delivered")
    [failed] = tracker.listener.of("reminder.failed")
    assert delivered["clinic_id"] == one
    assert failed["clinic_id"] == other


async def test_a_callback_the_notifier_could_not_place_finds_its_clinic(
    tracker: Tracker,
) -> None:
    """A callback for a message the previous release sent names the clinic ``system``
    and no reminder: the send's record says whose it is, even if the send comes later
    (the callback is retried meanwhile)."""
    clinic = f"clinic-{uuid.uuid4()}"
    rid = "rem-" + uuid.uuid4().hex
    legacy = status(rid, "delivered", clinic="system").model_copy(update={"reminder_id": None})
    await tracker.publish(legacy)
    await settled(tracker, 0.2)
    assert tracker.listener.of("reminder.delivered") == []  # waits for the send
    await tracker.publish(dispatched(rid, clinic))
    await wait_for(lambda: len(tracker.listener.of("reminder.delivered")) >= 1, timeout=30)
    [delivered] = tracker.listener.of("reminder.delivered")
    assert delivered["clinic_id"] == clinic


async def test_refs_holding_a_colon_do_not_meet_another_clinics_keys(tracker: Tracker) -> None:
    """``c`` + ``1:a`` and ``c:1`` + ``a`` join to the same text with ``:``."""
    store = tracker.runtime.store
    day = today_utc()
    data: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "source": "ehr"}
    assert await store.record_completion("c", "1:a", day, data)
    assert await store.completions("c:1", "a") == {}
    assert await store.record_completion("c:1", "a", day, data)


async def test_the_upgrade_moves_records_kept_before_scoping_to_their_clinic(
    tracker: Tracker,
) -> None:
    """``python -m tracker.migrate``: what the old layout held, each clinic finds again."""
    store = tracker.runtime.store
    clinic, assignment, day = f"clinic-{uuid.uuid4()}", str(uuid.uuid4()), today_utc()
    record = AssignmentRecord(
        clinic_id=clinic, assignment_id=assignment, version=2, client_ref="c-1"
    )
    policy = policy_changed(clinic, after_missed=5).policy
    redis = store.redis
    await redis.set(store.key("assignment", assignment), record.model_dump_json())
    await redis.hset(store.key("completions", assignment), day.isoformat(), '{"source": "sms"}')
    await redis.sadd(store.key("client", clinic, "c-1"), assignment)
    await redis.sadd(store.key("active"), assignment)
    await redis.set(store.key("policy", clinic, "pol-1"), policy.model_dump_json())
    assert await store.policy(clinic, "pol-1") == policy  # read even before it moves

    assert await migrate(store) == {"assignments": 1, "policies": 1}
    assert await store.client_assignments(clinic, "c-1") == [record]
    assert set(await store.completions(clinic, assignment)) == {day}
    assert await store.active_assignments() == [(clinic, assignment)]
    assert await store.policy(clinic, "pol-1") == policy
    assert await redis.exists(store.key("assignment", assignment)) == 0
    assert await migrate(store) == {"assignments": 0, "policies": 0}
