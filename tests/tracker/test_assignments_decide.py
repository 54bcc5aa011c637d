"""An assignment's record after the EHR's events, in any order (no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityCancelled,
    ActivityPaused,
    ActivityResumed,
    Schedule,
    new_envelope,
)
from tracker.decide.assignments import assigned, lifecycle

CLINIC = "psychotherapeutische-gemeinschaftspraxis-nord-" + str(uuid.UUID(int=11))
ASSIGNMENT, CLIENT = str(uuid.UUID(int=12)), str(uuid.UUID(int=13))
IDS = {"clinic_id": CLINIC, "assignment_id": ASSIGNMENT, "client_ref": CLIENT}


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def envelope(day: int) -> dict[str, object]:
    return {**new_envelope(), "occurred_at": at(day)}


def assignment(version: int = 1) -> ActivityAssigned:
    return ActivityAssigned(
        **envelope(1),
        **IDS,
        therapist_ref="therapist-1",
        version=version,
        activity=Activity(kind="mood_log", title="Mood log"),
        schedule=Schedule(timezone="Europe/Berlin", start=date(2026, 11, 1), frequency="daily"),
        policy_id="pol-1",
    )


def test_an_older_or_repeated_version_changes_nothing() -> None:
    record = assigned(None, assignment(2))
    assert record is not None
    assert assigned(record, assignment(2)) is None
    assert assigned(record, assignment(1)) is None
    newer = assigned(record, assignment(3))
    assert newer is not None
    assert newer.version == 3


def test_pause_and_resume_on_the_clients_days_even_before_the_assignment() -> None:
    paused = lifecycle(None, ActivityPaused(**IDS, **envelope(3), version=1))
    assert paused is not None
    assert paused.status == "paused"
    record = assigned(paused, assignment(2))
    assert record is not None
    assert record.pauses == paused.pauses
    resumed = lifecycle(record, ActivityResumed(**IDS, **envelope(6), version=2))
    assert resumed is not None
    assert resumed.status == "active"
    [pause] = resumed.pauses
    assert (pause.start, pause.end) == (date(2026, 11, 3), date(2026, 11, 5))
    assert lifecycle(resumed, ActivityCancelled(**IDS, **envelope(7), version=1)) is None
    cancelled = lifecycle(resumed, ActivityCancelled(**IDS, **envelope(7), version=2))
    assert cancelled is not None
    assert cancelled.cancelled_on == date(2026, 11, 7)
