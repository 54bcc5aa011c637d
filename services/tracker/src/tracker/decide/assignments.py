"""An assignment's record after an EHR event about it (pure): newer versions win, and a
pause, resume or cancel is applied on the client's local day it happened."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityPaused,
    ActivityResumed,
    ActivityUpdated,
)
from tracker.records import AssignmentRecord, PausePeriod

Lifecycle = ActivityPaused | ActivityResumed | ActivityCancelled


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def assigned(
    current: AssignmentRecord | None, event: ActivityAssigned | ActivityUpdated
) -> AssignmentRecord | None:
    """The record with this version's content; None for an older or repeated version.
    What lifecycle events set (pauses, cancellation) is kept."""
    if current is not None and current.schedule is not None and event.version <= current.version:
        return None
    kept = current.model_dump(include={"pauses", "cancelled_on", "status"}) if current else {}
    return AssignmentRecord(
        clinic_id=event.clinic_id,
        assignment_id=event.assignment_id,
        version=max(event.version, current.version if current else 0),
        client_ref=event.client_ref,
        therapist_ref=event.therapist_ref,
        activity_kind=event.activity.kind.value,
        activity_title=event.activity.title,
        policy_id=event.policy_id,
        schedule=event.schedule,
        correlation_id=event.correlation_id,
        **kept,
    )


def lifecycle(current: AssignmentRecord | None, event: Lifecycle) -> AssignmentRecord | None:
    """Pause, resume or cancel, unless older than what we hold (it may also come first,
    before the assignment itself: then it starts the record)."""
    base = current or AssignmentRecord(
        clinic_id=event.clinic_id,
        assignment_id=event.assignment_id,
        version=event.version,
        client_ref=event.client_ref,
    )
    if event.version < base.version:
        return None
    tz = base.schedule.timezone if base.schedule else "UTC"
    updated = _changed(base, event, local_today(event.occurred_at, tz))
    return updated.model_copy(update={"version": max(event.version, base.version)})


def _changed(record: AssignmentRecord, event: Lifecycle, day: date) -> AssignmentRecord:
    """``day`` is the client's local day on which the change happened."""
    match event:
        case ActivityPaused():
            if any(p.end is None for p in record.pauses) or record.status == "cancelled":
                return record
            pause = PausePeriod(start=day, end=event.until)
            return record.model_copy(update={"status": "paused", "pauses": (*record.pauses, pause)})
        case ActivityResumed():
            return resumed(record, day)
        case _:
            return record.model_copy(update={"status": "cancelled", "cancelled_on": day})


def resumed(record: AssignmentRecord, day: date) -> AssignmentRecord:
    """Close the open pause the day before; a pause resumed the same day covers nothing."""
    closed = [
        p if p.end is not None else PausePeriod(start=p.start, end=day - timedelta(days=1))
        for p in record.pauses
    ]
    kept = tuple(p for p in closed if p.end is None or p.end >= p.start)
    status = "cancelled" if record.status == "cancelled" else "active"
    return record.model_copy(update={"status": status, "pauses": kept})
