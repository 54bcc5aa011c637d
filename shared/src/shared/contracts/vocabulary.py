"""Closed vocabularies shared by the contracts."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PUSH = "push"


class ActivityKind(StrEnum):
    """What kind of practice was assigned. ``other`` covers anything a clinic adds."""

    DIARY_CARD = "diary_card"
    THOUGHT_RECORD = "thought_record"
    MOOD_LOG = "mood_log"
    EXPOSURE = "exposure"
    BREATHING = "breathing"
    MINDFULNESS = "mindfulness"
    MASTERY = "mastery"
    READING = "reading"
    REHEARSAL = "rehearsal"
    OTHER = "other"


class Frequency(StrEnum):
    """Simple frequencies for EHRs that do not speak RRULE."""

    DAILY = "daily"
    WEEKDAYS = "weekdays"
    WEEKLY = "weekly"
    ONCE = "once"


class ReminderPurpose(StrEnum):
    REMINDER = "reminder"  # at a configured time of day
    LEAD = "lead"  # ahead of a due date
    NUDGE = "nudge"  # conditional: only if not done by then
    ENCOURAGEMENT = "encouragement"  # after a completion, when the clinic wants it


class CompletionSource(StrEnum):
    EHR = "ehr"
    LINK = "link"
    SMS = "sms"
    APP = "app"


class DeliveryStatus(StrEnum):
    """States of one message; see the tracker for the allowed transitions."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # the recipient reported an email as spam (it was delivered)
    OPTED_OUT = "opted_out"
    SUPPRESSED = "suppressed"


class SuppressionReason(StrEnum):
    QUIET_HOURS = "quiet_hours"
    CAP = "cap"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    NO_CONTACT = "no_contact"
    ALREADY_DONE = "already_done"
    DUPLICATE = "duplicate"
    # Decided at send time for a reminder already on its way (queued, deferred by quiet
    # hours, waiting for a rate-limit token or in a retry tier).
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
