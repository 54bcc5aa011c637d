"""What a completion records and announces, and when it earns a kind word (no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contracts import ClinicPolicy, CompletionSource, Messaging
from tracker.decide.completion import CompletionInput, decide
from tracker.records import AssignmentRecord

NOW = datetime(2026, 11, 9, 20, 0, tzinfo=UTC)
CLINIC = "zentrum-fuer-seelische-gesundheit-am-rhein-" + str(uuid.UUID(int=3))
ASSIGNMENT = str(uuid.UUID(int=5))
RECORD = AssignmentRecord(
    clinic_id=CLINIC,
    assignment_id=ASSIGNMENT,
    version=3,
    client_ref=str(uuid.UUID(int=6)),
    activity_kind="mood_log",
    activity_title="Mood log",
    policy_id="pol-1",
)
CAUSED = {"clinic_id": CLINIC, "correlation_id": "ehr-req-9"}


def policy(encouragement: bool) -> ClinicPolicy:
    messaging = Messaging(clinic_name="Zentrum", encouragement=encouragement)
    return ClinicPolicy(policy_id="pol-1", version=1, messaging=messaging)


def done(hours_ago: float = 1) -> CompletionInput:
    return CompletionInput(
        clinic_id=CLINIC,
        assignment_id=ASSIGNMENT,
        client_ref=RECORD.client_ref,
        occurrence_date=date(2026, 11, 9),
        completed_at=NOW - timedelta(hours=hours_ago),
        source=CompletionSource.LINK,
        rating=7,
    )


def test_the_same_occurrence_is_announced_under_the_same_id() -> None:
    one = decide(done(), CAUSED, None, None, NOW)
    other = decide(done(2), CAUSED, None, None, NOW)
    assert one.recorded.event_id == other.recorded.event_id
    assert one.recorded.correlation_id == "ehr-req-9"
    assert one.data["rating"] == 7


def test_encouragement_only_when_the_clinic_wants_it_and_while_fresh() -> None:
    wanted = decide(done(), CAUSED, RECORD, policy(True), NOW).encouragement
    assert wanted is not None
    assert wanted.purpose.value == "encouragement"
    assert wanted.reminder_id.startswith("enc-")
    assert wanted.assignment_version == 3
    assert decide(done(), CAUSED, RECORD, policy(False), NOW).encouragement is None
    assert decide(done(30), CAUSED, RECORD, policy(True), NOW).encouragement is None
    assert decide(done(), CAUSED, None, policy(True), NOW).encouragement is None
