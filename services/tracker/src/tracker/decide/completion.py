"""What a completion records and announces, decided on plain values."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.contracts import (
    ClinicPolicy,
    CompletionRecorded,
    CompletionSource,
    ReminderDue,
    ReminderPurpose,
    derived_event_id,
)
from shared.contracts.vocabulary import ActivityKind
from tracker.records import AssignmentRecord

FRESH_FOR_ENCOURAGEMENT = timedelta(hours=24)


@dataclass(frozen=True)
class CompletionInput:
    clinic_id: str
    assignment_id: str
    client_ref: str
    occurrence_date: date
    completed_at: datetime
    source: CompletionSource
    rating: int | None = None
    note: str | None = None
    reminder_id: str | None = None  # the reminder a reply or link answered, if known


@dataclass(frozen=True)
class Plan:
    data: dict[str, Any]  # what is kept for the occurrence
    recorded: CompletionRecorded  # announced once per occurrence
    encouragement: ReminderDue | None  # a kind word, if the clinic wants one


def stable_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def may_encourage(c: CompletionInput, now: datetime) -> bool:
    """A kind word days later would only be confusing."""
    return now - c.completed_at <= FRESH_FOR_ENCOURAGEMENT


def decide(
    c: CompletionInput,
    caused: Mapping[str, Any],
    record: AssignmentRecord | None,
    policy: ClinicPolicy | None,
    now: datetime,
) -> Plan:
    day = c.occurrence_date.isoformat()
    data: dict[str, Any] = {"at": c.completed_at.isoformat(), "source": c.source.value}
    data |= {"rating": c.rating, "note": c.note}
    recorded = CompletionRecorded(
        **caused,
        # The same id for the same occurrence lets the EHR drop a rare re-announcement.
        event_id=derived_event_id("completion", c.clinic_id, c.assignment_id, day),
        assignment_id=c.assignment_id,
        client_ref=c.client_ref,
        occurrence_date=c.occurrence_date,
        completed_at=c.completed_at,
        source=c.source,
        rating=c.rating,
        note=c.note,
    )
    return Plan(data, recorded, encouragement(c, caused, record, policy, now))


def encouragement(
    c: CompletionInput,
    caused: Mapping[str, Any],
    record: AssignmentRecord | None,
    policy: ClinicPolicy | None,
    now: datetime,
) -> ReminderDue | None:
    """An encouragement travels to the notifier as a reminder of its own purpose."""
    if not may_encourage(c, now) or record is None or record.policy_id is None:
        return None
    if policy is None or not policy.messaging.encouragement:
        return None
    day = c.occurrence_date.isoformat()
    return ReminderDue(
        **caused,
        reminder_id=f"enc-{stable_id(c.clinic_id, c.assignment_id, day)}",
        assignment_id=c.assignment_id,
        assignment_version=record.version,
        client_ref=c.client_ref,
        occurrence_date=c.occurrence_date,
        purpose=ReminderPurpose.ENCOURAGEMENT,
        planned_for=now,
        activity_kind=ActivityKind(record.activity_kind),
        activity_title=record.activity_title or "activity",
        policy_id=record.policy_id,
    )
