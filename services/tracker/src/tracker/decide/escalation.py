"""Whether an assignment's misses call for a clinician alert now (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from shared.contracts import ClinicianAlert, ClinicPolicy
from tracker.adherence import Completion
from tracker.decide.summary import adherence
from tracker.escalation import escalation_for
from tracker.records import AssignmentRecord

DEFAULT_AFTER_MISSED = 3  # without a policy


@dataclass(frozen=True)
class Alert:
    event: ClinicianAlert
    run_started: date  # names the run of misses: alerted once per run


def alert(
    record: AssignmentRecord,
    completions: Mapping[date, Completion],
    policy: ClinicPolicy | None,
    now: datetime,
) -> Alert | None:
    if record.status == "cancelled":
        return None
    result = adherence(record, completions, None, now)
    if result is None:
        return None
    after = policy.escalation.after_missed if policy else DEFAULT_AFTER_MISSED
    found = escalation_for(result, after)
    if found is None:
        return None
    # Caused by time passing, not by a message: it carries the EHR's id of the
    # assignment's latest version.
    correlation = {"correlation_id": record.correlation_id} if record.correlation_id else {}
    event = ClinicianAlert(
        **correlation,
        clinic_id=record.clinic_id,
        assignment_id=record.assignment_id,
        assignment_version=record.version,
        client_ref=record.client_ref,
        therapist_ref=record.therapist_ref,
        consecutive_missed=found.consecutive_missed,
        last_missed_date=found.last_missed,
    )
    return Alert(event, found.run_started)
