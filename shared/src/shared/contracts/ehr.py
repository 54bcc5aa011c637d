"""Events the clinic's EHR publishes to Between Sessions (the inbound public API)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, TypeAdapter, model_validator

from shared.contracts.base import Event, Model
from shared.contracts.fields import (
    Email,
    Language,
    LocalTime,
    Note,
    PhoneE164,
    PositiveVersion,
    Ref,
    RRule,
    ShortText,
    TimeZoneName,
    UtcDatetime,
)
from shared.contracts.policy import ClinicPolicy, QuietHours, RuleOverride
from shared.contracts.vocabulary import ActivityKind, Channel, CompletionSource, Frequency


class InboundEvent(Event):
    """An event the EHR publishes. The EHR must send its envelope: a missing ``event_id``
    once defaulted to a random one, so a re-sent event was applied twice."""

    event_id: UUID = Field(
        description="Unique id the EHR gives the event; a re-send or redelivery keeps it. "
        "Repeats are recognised (per clinic) by this id."
    )
    occurred_at: UtcDatetime = Field(
        description="When it happened in the EHR, with a time zone offset; stored as UTC."
    )
    correlation_id: str = Field(
        min_length=1,
        max_length=128,
        description="Id of the EHR request that started this chain; every event we send "
        "back that it caused carries it.",
    )


class Activity(Model):
    kind: ActivityKind
    title: ShortText = Field(
        description="Internal title for clinicians; never put in a message unless the clinic's "
        "policy allows activity details."
    )


class Schedule(Model):
    """When the activity is due. Occurrences are local calendar days in ``timezone``."""

    timezone: TimeZoneName
    start: date
    end: date | None = Field(default=None, description="Last day (inclusive); open-ended if unset.")
    due: date | None = Field(default=None, description="Due date for one-off activities.")
    rrule: RRule | None = Field(default=None, description="RFC 5545 RRULE without DTSTART.")
    frequency: Frequency | None = None
    times_of_day: tuple[LocalTime, ...] | None = Field(
        default=None, max_length=8, description="Reminder times; the policy's apply if unset."
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.rrule and self.frequency:
            raise ValueError("give either rrule or frequency, not both")
        if not self.rrule and not self.frequency:
            raise ValueError("one of rrule or frequency is required")
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        if self.due is not None and self.due < self.start:
            raise ValueError("due must not be before start")
        return self


class ActivityAssigned(InboundEvent):
    """A therapist assigned an activity. Later versions arrive as ``activity.updated``."""

    type: Literal["activity.assigned"] = "activity.assigned"
    assignment_id: Ref
    version: PositiveVersion = 1
    client_ref: Ref = Field(description="Pseudonymous client reference; never a name.")
    therapist_ref: Ref
    activity: Activity
    schedule: Schedule
    policy_id: Ref
    overrides: RuleOverride | None = None


class ActivityUpdated(InboundEvent):
    """A full new version of an assignment; older or equal versions are ignored."""

    type: Literal["activity.updated"] = "activity.updated"
    assignment_id: Ref
    version: PositiveVersion
    client_ref: Ref
    therapist_ref: Ref
    activity: Activity
    schedule: Schedule
    policy_id: Ref
    overrides: RuleOverride | None = None


class ActivityCancelled(InboundEvent):
    type: Literal["activity.cancelled"] = "activity.cancelled"
    assignment_id: Ref
    version: PositiveVersion
    client_ref: Ref
    reason: ShortText | None = None


class ActivityPaused(InboundEvent):
    type: Literal["activity.paused"] = "activity.paused"
    assignment_id: Ref
    version: PositiveVersion
    client_ref: Ref
    until: date | None = Field(default=None, description="Resume automatically after this day.")


class ActivityResumed(InboundEvent):
    type: Literal["activity.resumed"] = "activity.resumed"
    assignment_id: Ref
    version: PositiveVersion
    client_ref: Ref


class ActivityCompleted(InboundEvent):
    """An occurrence was done. Recorded once per (assignment, occurrence_date)."""

    type: Literal["activity.completed"] = "activity.completed"
    assignment_id: Ref
    client_ref: Ref
    occurrence_date: date = Field(description="The client's local day the occurrence belongs to.")
    completed_at: UtcDatetime
    source: CompletionSource = CompletionSource.EHR
    rating: int | None = Field(default=None, ge=0, le=10)
    note: Note | None = None


class PushSubscription(Model):
    """A Web Push subscription as the browser gives it."""

    endpoint: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    p256dh: Annotated[str, Field(min_length=16, max_length=256)]
    auth: Annotated[str, Field(min_length=8, max_length=64)]


class ContactPoints(Model):
    sms: PhoneE164 | None = None
    email: Email | None = None
    push: PushSubscription | None = None

    def has(self, channel: Channel) -> bool:
        return getattr(self, channel.value) is not None


class ChannelConsent(Model):
    sms: bool = False
    email: bool = False
    push: bool = False

    def allows(self, channel: Channel) -> bool:
        return bool(getattr(self, channel.value))


class ClientPreferencesChanged(InboundEvent):
    """The client's contact points, consent, language and quiet hours (full replacement)."""

    type: Literal["client.preferences.changed"] = "client.preferences.changed"
    client_ref: Ref
    version: PositiveVersion
    timezone: TimeZoneName
    channels: tuple[Channel, ...] = Field(
        default=(), max_length=3, description="Preferred order; empty means the clinic's order."
    )
    contacts: ContactPoints = ContactPoints()
    consent: ChannelConsent = ChannelConsent()
    opted_out: bool = Field(default=False, description="True stops every channel at once.")
    language: Language | None = None
    quiet_hours: QuietHours | None = None


class ClinicPolicyChanged(InboundEvent):
    """A clinic's reminder policy; pending reminders of the clinic are re-planned."""

    type: Literal["clinic.policy.changed"] = "clinic.policy.changed"
    policy: ClinicPolicy


class SessionUpcoming(InboundEvent):
    """A session is coming up: the tracker answers with an adherence summary."""

    type: Literal["session.upcoming"] = "session.upcoming"
    session_id: Ref
    client_ref: Ref
    therapist_ref: Ref
    starts_at: UtcDatetime
    previous_session_at: UtcDatetime | None = Field(
        default=None, description="Summary covers the time since then (or the last 7 days)."
    )


class ClientErased(InboundEvent):
    """Erase everything Between Sessions holds about a client of this clinic (a request
    under the right to erasure, or the console's ops action). Every service deletes its
    data about ``client_ref``; the tracker then sends ``client.erasure.completed``.
    Idempotent: a repeat deletes nothing more. Another clinic's client with the same ref
    is untouched, and a later assignment for the ref starts afresh."""

    type: Literal["client.erased"] = "client.erased"
    client_ref: Ref


EhrEvent = Annotated[
    ActivityAssigned
    | ActivityUpdated
    | ActivityCancelled
    | ActivityPaused
    | ActivityResumed
    | ActivityCompleted
    | ClientPreferencesChanged
    | ClinicPolicyChanged
    | SessionUpcoming
    | ClientErased,
    Field(discriminator="type"),
]
"""Everything an EHR may publish to the inbound exchange."""

ehr_event_adapter: TypeAdapter[EhrEvent] = TypeAdapter(EhrEvent)

AssignmentEvent = ActivityAssigned | ActivityUpdated
