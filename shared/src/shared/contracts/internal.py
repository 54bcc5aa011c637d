"""Events between the services. Not part of the EHR API; may change with the services."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from shared.contracts.base import Event, Model
from shared.contracts.fields import Note, PositiveVersion, Ref, ShortText, UtcDatetime
from shared.contracts.vocabulary import (
    ActivityKind,
    Channel,
    CompletionSource,
    DeliveryStatus,
    ReminderPurpose,
    SuppressionReason,
)

# At most this many other reminders ride in one reminder.due: a client with more due at
# the same instant gets more than one message (it bounds the event's size).
MAX_DIGEST_ITEMS = 31


class DigestItem(Model):
    """Another reminder of the same client due at the same instant as a ``reminder.due``,
    travelling with it so the client gets one message naming the count (a digest)."""

    reminder_id: Ref
    assignment_id: Ref
    assignment_version: PositiveVersion
    occurrence_date: date
    purpose: ReminderPurpose
    activity_kind: ActivityKind
    activity_title: ShortText = Field(description="Internal; rendered only if the policy allows.")
    policy_id: Ref
    correlation_id: str = Field(max_length=128, description="The EHR's id for this reminder.")


class ReminderDue(Event):
    """A timer fired. ``reminder_id`` is stable across redeliveries and replicas.

    ``digest`` lists the client's other reminders due at the same instant (the scheduler
    groups them; this event's own reminder is the one with the lowest id). Empty for a
    lone reminder."""

    type: Literal["reminder.due"] = "reminder.due"
    reminder_id: Ref
    assignment_id: Ref
    assignment_version: PositiveVersion
    client_ref: Ref
    occurrence_date: date
    purpose: ReminderPurpose
    planned_for: UtcDatetime
    activity_kind: ActivityKind
    activity_title: ShortText = Field(description="Internal; rendered only if the policy allows.")
    policy_id: Ref
    digest: tuple[DigestItem, ...] = Field(default=(), max_length=MAX_DIGEST_ITEMS)


class NotificationDispatched(Event):
    """A provider accepted the message."""

    type: Literal["notification.dispatched"] = "notification.dispatched"
    reminder_id: Ref
    client_ref: Ref
    assignment_id: Ref | None = None
    channel: Channel
    provider: Ref
    provider_message_id: Annotated[str, Field(max_length=256)]
    attempt: int = Field(default=1, ge=1)
    occurrence_date: date | None = Field(
        default=None, description="The client's local day the reminder belongs to."
    )
    purpose: ReminderPurpose | None = None
    link_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = Field(
        default=None, description="Code of the done link the message carries (see shared.links)."
    )
    link_expires_at: UtcDatetime | None = Field(
        default=None, description="Until when the done link records a completion."
    )
    digest_of: Ref | None = Field(
        default=None,
        description="Sent in one message with other reminders (a digest): the reminder that "
        "message was sent for, whose status callbacks name it.",
    )
    digest_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = Field(
        default=None,
        description="Code of the digest link (the page listing every reminder of the message).",
    )


class NotificationFailed(Event):
    """Sending failed on a channel. ``permanent`` failures are not retried on that channel."""

    type: Literal["notification.failed"] = "notification.failed"
    reminder_id: Ref
    client_ref: Ref
    assignment_id: Ref | None = None
    channel: Channel | None = None
    provider: Ref | None = None
    reason: ShortText
    permanent: bool
    attempt: int = Field(default=1, ge=1)
    occurrence_date: date | None = Field(
        default=None, description="The client's local day the reminder belongs to."
    )
    purpose: ReminderPurpose | None = None


class NotificationSuppressed(Event):
    """A due reminder was deliberately not sent (quiet hours, caps, opt-out...)."""

    type: Literal["notification.suppressed"] = "notification.suppressed"
    reminder_id: Ref
    client_ref: Ref
    assignment_id: Ref | None = None
    channel: Channel | None = None
    reason: SuppressionReason
    deferred_until: UtcDatetime | None = None
    occurrence_date: date | None = Field(
        default=None, description="The client's local day the reminder belongs to."
    )
    purpose: ReminderPurpose | None = None


class DeliveryStatusChanged(Event):
    """A provider reported a status for a message (callbacks may repeat or arrive out of order)."""

    type: Literal["delivery.status.changed"] = "delivery.status.changed"
    provider: Ref
    provider_message_id: Annotated[str, Field(max_length=256)]
    reminder_id: Ref | None = Field(
        default=None,
        description="The reminder the message was sent for, named by the callback URL the "
        "notifier gave the provider (absent only for a callback it cannot place).",
    )
    channel: Channel
    status: DeliveryStatus
    error_code: Annotated[str, Field(max_length=64)] | None = None
    reported_at: UtcDatetime


class ConsentChanged(Event):
    """A client opted out or back in by themselves (for example an SMS STOP)."""

    type: Literal["consent.changed"] = "consent.changed"
    client_ref: Ref
    channel: Channel
    opted_out: bool
    source: Literal["sms_keyword", "unsubscribe_link", "push_revoked", "email_complaint"]


class PushSubscriptionRevoked(Event):
    """The push service said a client's subscription is gone (HTTP 404 or 410): the
    notifier removed it from its directory and sends no more pushes to it until the EHR
    sends a new one. Carries no endpoint (a device's address)."""

    type: Literal["push.revoked"] = "push.revoked"
    client_ref: Ref
    reminder_id: Ref | None = Field(
        default=None, description="The reminder whose send found the subscription gone."
    )
    provider: Ref
    status_code: int = Field(ge=100, le=599, description="The push service's answer (404, 410).")


class CompletionReported(Event):
    """A client reported a completion through a reply or link; the tracker records it."""

    type: Literal["completion.reported"] = "completion.reported"
    assignment_id: Ref
    client_ref: Ref
    occurrence_date: date
    completed_at: UtcDatetime
    source: CompletionSource
    reminder_id: Ref | None = None
    note: Note | None = None


class SchedulerBacklogReported(Event):
    """Periodic report from a scheduler replica, for the ops dashboard.

    ``clinic_id`` is ``system``: the report covers every clinic.
    """

    type: Literal["scheduler.backlog.reported"] = "scheduler.backlog.reported"
    replica: Ref
    pending_timers: int = Field(ge=0)
    next_due_at: UtcDatetime | None = None
    overdue: int = Field(default=0, ge=0, description="Timers past due and not yet fired.")


# How many of each list a client's plan carries (the earliest); ``truncated`` says when
# the plan holds more.
MAX_PLAN_ITEMS = 50
# Plans in one client.plans.changed (the scheduler also keeps a batch's body well under the
# consumers' default 256 KiB limit, so a batch of long plans holds fewer).
MAX_PLANS_PER_BATCH = 500


class PlannedItem(Model):
    """One reminder the scheduler holds a timer for, and why at that time."""

    reminder_id: Ref
    assignment_id: Ref
    occurrence_date: date
    purpose: ReminderPurpose
    planned_for: UtcDatetime
    slot: Annotated[str, Field(max_length=32)] = Field(
        description="The policy's local slot it came from (0900, L1-1800 a day ahead at 18:00, "
        "N2000 a nudge if not done by 20:00); the spread moves it by a few minutes."
    )
    moved_from: UtcDatetime | None = Field(
        default=None, description="Set when quiet hours moved it: the time it would have had."
    )


class HeldBackItem(Model):
    """A reminder the plan would have had but the client's caps held back."""

    assignment_id: Ref
    occurrence_date: date
    purpose: ReminderPurpose
    would_fire_at: UtcDatetime
    reason: Literal["cap_per_day", "cap_per_week"]


class ClientPlan(Model):
    """A client's plan as one re-plan committed it: at most ``MAX_PLAN_ITEMS`` of each
    list, the earliest first (``truncated`` says when more exist)."""

    client_ref: Ref
    cause: Annotated[str, Field(max_length=64)] = Field(
        description="The event type that caused the re-plan (or horizon.rolled, policy.changed)."
    )
    causation_id: UUID | None = Field(
        default=None, description="event_id of the event that caused the re-plan (none for a roll)."
    )
    correlation_id: str = Field(
        max_length=128, description="The correlation id of the event that caused the re-plan."
    )
    planned_at: UtcDatetime = Field(
        description="When this plan was committed: of two plans of a client, keep the newer."
    )
    upcoming: tuple[PlannedItem, ...] = Field(default=(), max_length=200)
    held_back: tuple[HeldBackItem, ...] = Field(default=(), max_length=200)
    horizon_end: UtcDatetime
    truncated: bool = False


class ClientPlansChanged(Event):
    """The scheduler re-planned these clients of one clinic (the console's upcoming
    reminders and its moved and held-back decisions).

    Batched because a publish per re-plan cost the scheduler more than the re-plan
    itself (ingest fell from over 500 to about 400 events/s): a replica collects the
    plans it committed and publishes them every ``SCHEDULER_PLAN_ANNOUNCE_SECONDS``
    (default 0.5 s; sooner once 200 are waiting), so a plan reaches the tracker at most
    that long after its commit. A client appears once per batch, with its newest plan; a
    later batch (or another replica's) may repeat or supersede it: keep the plan with
    the latest ``planned_at``."""

    type: Literal["client.plans.changed"] = "client.plans.changed"
    plans: tuple[ClientPlan, ...] = Field(min_length=1, max_length=MAX_PLANS_PER_BATCH)


class ClientErasureReported(Event):
    """A service deleted what it held about a client (``client.erased``): the tracker
    gathers the reports of one erasure and answers the EHR once all are in."""

    type: Literal["client.erasure.reported"] = "client.erasure.reported"
    erasure_event_id: UUID = Field(description="event_id of the client.erased handled.")
    client_ref: Ref
    service: Literal["scheduler", "notifier", "tracker"]
    counts: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="Items deleted per kind of data."
    )


InternalEvent = Annotated[
    ReminderDue
    | NotificationDispatched
    | NotificationFailed
    | NotificationSuppressed
    | DeliveryStatusChanged
    | ConsentChanged
    | PushSubscriptionRevoked
    | CompletionReported
    | SchedulerBacklogReported
    | ClientPlansChanged
    | ClientErasureReported,
    Field(discriminator="type"),
]

internal_event_adapter: TypeAdapter[InternalEvent] = TypeAdapter(InternalEvent)
