"""Summaries and clinician alerts decided on records and completions (no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contracts import ClinicPolicy, Messaging, Schedule, SessionUpcoming, new_envelope
from shared.contracts.policy import Escalation
from tracker.adherence import Completion
from tracker.decide.escalation import alert
from tracker.decide.summary import summary
from tracker.records import AssignmentRecord

NOW = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)
CLINIC = "ambulanz-fuer-verhaltenstherapie-der-universitaet-" + str(uuid.UUID(int=21))
RECORD = AssignmentRecord(
    clinic_id=CLINIC,
    assignment_id=str(uuid.UUID(int=22)),
    version=2,
    client_ref=str(uuid.UUID(int=23)),
    therapist_ref="therapist-1",
    schedule=Schedule(timezone="UTC", start=date(2026, 11, 1), frequency="daily"),
    correlation_id="ehr-assigned-2",
)


def done(*days: int) -> dict[date, Completion]:
    return {date(2026, 11, d): Completion(date(2026, 11, d)) for d in days}


def policy(after: int | None) -> ClinicPolicy:
    return ClinicPolicy(
        policy_id="pol-1",
        version=1,
        escalation=Escalation(after_missed=after),
        messaging=Messaging(clinic_name="Ambulanz"),
    )


def test_an_alert_names_its_run_and_carries_the_assignments_correlation_id() -> None:
    found = alert(RECORD, done(1, 2, 3, 4), policy(3), NOW)
    assert found is not None
    assert found.run_started == date(2026, 11, 5)
    assert (found.event.consecutive_missed, found.event.last_missed_date) == (3, date(2026, 11, 7))
    assert found.event.correlation_id == "ehr-assigned-2"
    later = alert(RECORD, done(1, 2, 3, 4), policy(3), NOW + timedelta(days=1))
    assert later is not None
    assert later.run_started == found.run_started


def test_no_alert_below_the_rule_without_a_rule_or_when_cancelled() -> None:
    assert alert(RECORD, done(1, 2, 3, 4, 5), policy(3), NOW) is None
    assert alert(RECORD, {}, policy(None), NOW) is None
    cancelled = RECORD.model_copy(update={"status": "cancelled"})
    assert alert(cancelled, {}, policy(3), NOW) is None
    assert alert(RECORD, done(1, 2, 3, 4), None, NOW) is not None  # default: 3


def test_a_summary_counts_the_period_since_the_previous_session() -> None:
    session = SessionUpcoming(
        **new_envelope(),
        clinic_id=CLINIC,
        therapist_ref="therapist-1",
        session_id="sess-1",
        client_ref=RECORD.client_ref,
        starts_at=NOW + timedelta(hours=2),
        previous_session_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    result = summary(session, [RECORD], {RECORD.assignment_id: done(1, 2, 3, 5, 6, 7)}, NOW, 7)
    assert (result.due, result.done, result.rate) == (7, 6, round(6 / 7, 4))
    [part] = result.assignments
    assert (part.missed, part.current_streak, part.longest_streak) == (1, 3, 3)
