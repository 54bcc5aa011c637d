"""What a send leaves behind (its record) and what the notifier announces about a
reminder: sent, failed, suppressed. Pure: the record alone makes the announcement, so
a redelivery announces exactly what the first delivery did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.contracts import (
    Channel,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    ReminderDue,
    ReminderPurpose,
    SuppressionReason,
    derived_event_id,
)


@dataclass(frozen=True)
class SentRecord:
    """What the provider accepted, and what the announcement of it carries: a redelivery
    announces the very same facts (the tracker builds the done link's record from them)."""

    channel: str
    provider: str
    provider_message_id: str
    occurrence_date: str | None = None  # ISO day
    purpose: str | None = None
    link_code: str | None = None
    link_expires_at: str | None = None  # ISO instant, UTC
    # A digest (one message for several reminders): the reminder the message was sent
    # for, its page's code, and (in that reminder's own record) the others it carried.
    digest_of: str | None = None
    digest_code: str | None = None
    digest: list[str] | None = None


def about(event: ReminderDue) -> dict[str, Any]:
    """What every event about a reminder carries: the envelope it caused, and which
    reminder, client and assignment it is."""
    return {
        **event.caused(),
        "reminder_id": event.reminder_id,
        "client_ref": event.client_ref,
        "assignment_id": event.assignment_id,
    }


def dispatched(event: ReminderDue, record: SentRecord) -> NotificationDispatched:
    """The announcement of a send, from its record alone (records from before they kept
    the link fall back to the reminder's own fields)."""
    occurrence = record.occurrence_date or event.occurrence_date.isoformat()
    return NotificationDispatched(
        **about(event),
        event_id=derived_event_id("dispatched", event.clinic_id, event.reminder_id),
        channel=Channel(record.channel),
        provider=record.provider,
        provider_message_id=record.provider_message_id[:256],
        occurrence_date=date.fromisoformat(occurrence),
        purpose=ReminderPurpose(record.purpose) if record.purpose else event.purpose,
        link_code=record.link_code,
        link_expires_at=(
            datetime.fromisoformat(record.link_expires_at) if record.link_expires_at else None
        ),
        digest_of=record.digest_of,
        digest_code=record.digest_code,
    )


def suppressed(
    event: ReminderDue, reason: SuppressionReason, deferred_until: datetime | None = None
) -> NotificationSuppressed:
    return NotificationSuppressed(
        **about(event),
        reason=reason,
        deferred_until=deferred_until,
        occurrence_date=event.occurrence_date,
        purpose=event.purpose,
    )


def failed(
    event: ReminderDue,
    channel: Channel | None,
    provider: str | None,
    reason: str,
    permanent: bool,
) -> NotificationFailed:
    return NotificationFailed(
        **about(event),
        channel=channel,
        provider=provider,
        reason=reason[:200],
        permanent=permanent,
        occurrence_date=event.occurrence_date,
        purpose=event.purpose,
    )


EVERY_CHANNEL_FAILED = "every allowed channel failed"


def every_channel_failed(event: ReminderDue) -> NotificationFailed:
    return failed(event, None, None, EVERY_CHANNEL_FAILED, True)
