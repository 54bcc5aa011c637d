"""The assignment facts that stop a reminder on its way, on plain values (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from notifier.assignments import (
    DONE_RETENTION_DAYS,
    AssignmentState,
    Status,
    apply_completion,
    apply_lifecycle,
    stop_reason,
)
from notifier.handlers import assignment_change
from shared.contracts import (
    ActivityCancelled,
    ActivityPaused,
    ActivityResumed,
    CompletionRecorded,
    CompletionSource,
    ReminderPurpose,
    SuppressionReason,
    new_envelope,
)

DAY = date(2026, 11, 23)
R, E, N, L = (
    ReminderPurpose.REMINDER,
    ReminderPurpose.ENCOURAGEMENT,
    ReminderPurpose.NUDGE,
    ReminderPurpose.LEAD,
)
ACTIVE = AssignmentState()


def test_nothing_known_stops_nothing() -> None:
    assert stop_reason(None, 1, DAY, R) is None
    assert stop_reason(ACTIVE, 1, DAY, R) is None


@pytest.mark.parametrize("purpose", [R, N, L])
def test_a_done_day_stops_every_purpose_but_encouragement(purpose: ReminderPurpose) -> None:
    done = apply_completion(ACTIVE, DAY, DAY)
    assert done is not None
    assert stop_reason(done, 1, DAY, purpose) is SuppressionReason.COMPLETED
    assert stop_reason(done, 1, DAY, E) is None
    assert stop_reason(done, 1, DAY + timedelta(days=1), purpose) is None  # another day


def test_cancel_stops_its_version_and_older_a_newer_version_revives() -> None:
    cancelled = apply_lifecycle(ACTIVE, 3, Status.CANCELLED)
    assert cancelled is not None
    assert stop_reason(cancelled, 3, DAY, R) is SuppressionReason.CANCELLED
    assert stop_reason(cancelled, 2, DAY, E) is SuppressionReason.CANCELLED
    assert stop_reason(cancelled, 4, DAY, R) is None


def test_pause_stops_the_days_it_covers_until_resumed() -> None:
    paused = apply_lifecycle(ACTIVE, 2, Status.PAUSED, DAY + timedelta(days=2))
    assert paused is not None
    assert stop_reason(paused, 2, DAY, R) is SuppressionReason.PAUSED
    assert stop_reason(paused, 1, DAY + timedelta(days=2), N) is SuppressionReason.PAUSED
    assert stop_reason(paused, 2, DAY + timedelta(days=3), R) is None  # after the pause
    assert stop_reason(paused, 3, DAY, R) is None  # planned for a newer version
    open_ended = apply_lifecycle(ACTIVE, 2, Status.PAUSED)
    assert open_ended is not None
    assert stop_reason(open_ended, 2, DAY + timedelta(days=300), R) is SuppressionReason.PAUSED
    resumed = apply_lifecycle(open_ended, 3, Status.ACTIVE)
    assert resumed is not None
    assert resumed.paused_until is None
    assert stop_reason(resumed, 2, DAY, R) is None


def test_older_or_repeated_lifecycle_events_change_nothing() -> None:
    paused = apply_lifecycle(ACTIVE, 5, Status.PAUSED)
    assert paused is not None
    assert apply_lifecycle(paused, 4, Status.ACTIVE) is None  # an older resume
    assert apply_lifecycle(paused, 5, Status.PAUSED) is None  # a repeat
    cancelled = apply_lifecycle(paused, 6, Status.CANCELLED)
    assert cancelled is not None
    assert apply_lifecycle(cancelled, 6, Status.ACTIVE) is None  # cancel is final per version
    assert apply_lifecycle(cancelled, 5, Status.PAUSED) is None
    revived = apply_lifecycle(cancelled, 7, Status.PAUSED, DAY)
    assert revived == AssignmentState(7, Status.PAUSED, DAY)


def test_done_days_are_kept_bounded_and_a_repeat_is_no_change() -> None:
    state = ACTIVE
    for n in range(100):
        new = apply_completion(state, DAY - timedelta(days=n), DAY)
        state = new or state
    assert min(state.done) >= DAY - timedelta(days=DONE_RETENTION_DAYS)
    assert len(state.done) <= DONE_RETENTION_DAYS + 1
    assert apply_completion(state, DAY, DAY) is None


def test_state_round_trips_through_json() -> None:
    state = AssignmentState(4, Status.PAUSED, DAY, (DAY, DAY - timedelta(days=1)))
    assert AssignmentState.from_json(state.to_json()) == state


def test_events_map_to_their_change() -> None:
    env = {**new_envelope(), "clinic_id": str(uuid.uuid4())}
    ids = {"assignment_id": str(uuid.uuid4()), "client_ref": str(uuid.uuid4())}
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    done = CompletionRecorded(
        **env, **ids, occurrence_date=DAY, completed_at=now, source=CompletionSource.LINK
    )
    after = assignment_change(done, now)(ACTIVE)
    assert after is not None
    assert after.done == (DAY,)
    paused = assignment_change(ActivityPaused(**env, **ids, version=2, until=DAY))(ACTIVE)
    assert paused == AssignmentState(2, Status.PAUSED, DAY)
    cancelled = assignment_change(ActivityCancelled(**env, **ids, version=3))(ACTIVE)
    assert cancelled == AssignmentState(3, Status.CANCELLED)
    resumed = assignment_change(ActivityResumed(**env, **ids, version=3))
    assert resumed(AssignmentState(2, Status.PAUSED)) == AssignmentState(3)
    assert resumed(AssignmentState(4, Status.PAUSED)) is None  # older than what is known
