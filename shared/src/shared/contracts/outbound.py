"""Events Between Sessions publishes back to the EHR (the outbound public API)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from shared.contracts.base import Event, Model
from shared.contracts.fields import Note, PositiveVersion, Ref, ShortText, UtcDatetime
from shared.contracts.vocabulary import Channel, CompletionSource, ReminderPurpose


class ReminderDelivered(Event):
    type: Literal["reminder.delivered"] = "reminder.delivered"
    reminder_id: Ref
    assignment_id: Ref
    client_ref: Ref
    occurrence_date: date
    purpose: ReminderPurpose
    channel: Channel
    delivered_at: UtcDatetime


class ReminderFailed(Event):
    type: Literal["reminder.failed"] = "reminder.failed"
    reminder_id: Ref
    assignment_id: Ref
    client_ref: Ref
    occurrence_date: date
    channel: Channel | None = None
    reason: ShortText


class CompletionRecorded(Event):
    """A completion was recorded (once per occurrence). Also drives nudge cancellation."""

    type: Literal["completion.recorded"] = "completion.recorded"
    assignment_id: Ref
    client_ref: Ref
    occurrence_date: date
    completed_at: UtcDatetime
    source: CompletionSource
    rating: int | None = Field(default=None, ge=0, le=10)
    note: Note | None = None


class AssignmentAdherence(Model):
    assignment_id: Ref
    activity_kind: str
    due: int = Field(ge=0)
    done: int = Field(ge=0)
    missed: int = Field(ge=0)
    rate: float | None = Field(
        default=None, ge=0, le=1, description="done / due; null if none due."
    )
    current_streak: int = Field(ge=0)
    longest_streak: int = Field(ge=0)
    ratings: tuple[int, ...] = ()
    notes: tuple[Note, ...] = ()


class AdherenceSummary(Event):
    """Counts and rates since the previous session: never a pass or fail."""

    type: Literal["adherence.summary"] = "adherence.summary"
    session_id: Ref
    client_ref: Ref
    therapist_ref: Ref
    period_start: UtcDatetime
    period_end: UtcDatetime
    assignments: tuple[AssignmentAdherence, ...]
    due: int = Field(ge=0)
    done: int = Field(ge=0)
    rate: float | None = Field(default=None, ge=0, le=1)


class ClinicianAlert(Event):
    """The clinic's escalation rule triggered: several consecutive occurrences were missed."""

    type: Literal["clinician.alert"] = "clinician.alert"
    assignment_id: Ref
    assignment_version: PositiveVersion | None = None
    client_ref: Ref
    therapist_ref: Ref | None = None
    consecutive_missed: int = Field(ge=1)
    last_missed_date: date


ErasureCounts = dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0)]]
"""Items deleted per kind of data (``timers``, ``contacts``, ``timeline_entries``...)."""


class ClientErasureCompleted(Event):
    """Every service deleted what it held about the client named by ``client.erased``.
    ``erasure_event_id`` is that event's id; the counts are what each service deleted
    (zero everywhere for a repeat). Its own ``event_id`` is derived from the erasure's,
    so a re-sent announcement of the same erasure carries the same id."""

    type: Literal["client.erasure.completed"] = "client.erasure.completed"
    client_ref: Ref
    erasure_event_id: UUID
    counts: dict[Annotated[str, Field(max_length=32)], ErasureCounts] = Field(
        description="Per service (scheduler, notifier, tracker): items deleted per kind."
    )


OutboundEvent = Annotated[
    ReminderDelivered
    | ReminderFailed
    | CompletionRecorded
    | AdherenceSummary
    | ClinicianAlert
    | ClientErasureCompleted,
    Field(discriminator="type"),
]

outbound_event_adapter: TypeAdapter[OutboundEvent] = TypeAdapter(OutboundEvent)
