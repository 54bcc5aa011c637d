"""Canonical example of every event, with fixed ids and times.

They are published as ``docs/examples/*.json``, checked for drift, and reused by tests
and the demo EHR simulator, so the documentation always shows payloads that validate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from uuid import UUID

from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityKind,
    ActivityPaused,
    ActivityResumed,
    ActivityUpdated,
    AdherenceSummary,
    AssignmentAdherence,
    Caps,
    Channel,
    ChannelConsent,
    ClientErased,
    ClientErasureCompleted,
    ClientErasureReported,
    ClientPlan,
    ClientPlansChanged,
    ClientPreferencesChanged,
    ClinicianAlert,
    ClinicPolicy,
    ClinicPolicyChanged,
    CompletionRecorded,
    CompletionReported,
    CompletionSource,
    ConsentChanged,
    ContactPoints,
    DeliveryStatus,
    DeliveryStatusChanged,
    Event,
    Frequency,
    HeldBackItem,
    LeadTime,
    Messaging,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    Nudge,
    PlannedItem,
    PushSubscriptionRevoked,
    QuietHours,
    ReminderDelivered,
    ReminderDue,
    ReminderFailed,
    ReminderPurpose,
    ReminderRule,
    Schedule,
    SchedulerBacklogReported,
    SessionUpcoming,
    SuppressionReason,
)

CLINIC = "clinic-001"
CLIENT = "client-7f3a"
THERAPIST = "therapist-12"
ASSIGNMENT = "asg-2026-0042"
POLICY = "default-adult"
REMINDER = "rem-asg-2026-0042-20261123-reminder-0"
AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _envelope(n: int) -> dict[str, object]:
    return {
        "event_id": UUID(int=n),
        "occurred_at": AT,
        "clinic_id": CLINIC,
        "correlation_id": "corr-demo-0001",
    }


def example_policy() -> ClinicPolicy:
    return ClinicPolicy(
        policy_id=POLICY,
        version=1,
        channels=(Channel.SMS, Channel.EMAIL, Channel.PUSH),
        quiet_hours=QuietHours(start=time(21), end=time(8)),
        caps=Caps(per_day=3, per_week=12),
        default_rule=ReminderRule(
            times_of_day=(time(9),),
            nudges=(Nudge(if_not_done_by=time(20)),),
            spread_minutes=30,
        ),
        rules_by_kind={
            ActivityKind.EXPOSURE: ReminderRule(
                times_of_day=(time(10),),
                lead_times=(LeadTime(days_before=1, at=time(18)),),
                spread_minutes=15,
            )
        },
        messaging=Messaging(
            clinic_name="Riverside Counselling",
            help_text="Reply STOP to stop messages. Questions? Call 555-0100.",
        ),
    )


def example_schedule() -> Schedule:
    return Schedule(
        timezone="Europe/Berlin",
        start=date(2026, 11, 23),
        end=date(2026, 12, 20),
        frequency=Frequency.DAILY,
        times_of_day=(time(9),),
    )


def examples() -> dict[str, Event]:
    """One example per event type, keyed by type tag."""
    activity = Activity(kind=ActivityKind.DIARY_CARD, title="DBT diary card")
    items: list[Event] = [
        ActivityAssigned(
            **_envelope(1),
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            therapist_ref=THERAPIST,
            activity=activity,
            schedule=example_schedule(),
            policy_id=POLICY,
        ),
        ActivityUpdated(
            **_envelope(2),
            assignment_id=ASSIGNMENT,
            version=2,
            client_ref=CLIENT,
            therapist_ref=THERAPIST,
            activity=activity,
            schedule=example_schedule().model_copy(update={"rrule": None}),
            policy_id=POLICY,
        ),
        ActivityCancelled(**_envelope(3), assignment_id=ASSIGNMENT, version=3, client_ref=CLIENT),
        ActivityPaused(
            **_envelope(4),
            assignment_id=ASSIGNMENT,
            version=3,
            client_ref=CLIENT,
            until=date(2026, 12, 1),
        ),
        ActivityResumed(**_envelope(5), assignment_id=ASSIGNMENT, version=4, client_ref=CLIENT),
        ActivityCompleted(
            **_envelope(6),
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            completed_at=datetime(2026, 11, 23, 18, 5, tzinfo=UTC),
            rating=7,
        ),
        ClientPreferencesChanged(
            **_envelope(7),
            client_ref=CLIENT,
            version=1,
            timezone="Europe/Berlin",
            channels=(Channel.SMS, Channel.EMAIL),
            contacts=ContactPoints(sms="+15005550006", email="client@example.org"),
            consent=ChannelConsent(sms=True, email=True),
            language="en",
        ),
        ClinicPolicyChanged(**_envelope(8), policy=example_policy()),
        SessionUpcoming(
            **_envelope(9),
            session_id="sess-88",
            client_ref=CLIENT,
            therapist_ref=THERAPIST,
            starts_at=datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
            previous_session_at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
        ),
        ReminderDue(
            **_envelope(10),
            reminder_id=REMINDER,
            assignment_id=ASSIGNMENT,
            assignment_version=1,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            purpose=ReminderPurpose.REMINDER,
            planned_for=datetime(2026, 11, 23, 8, 7, 12, tzinfo=UTC),
            activity_kind=ActivityKind.DIARY_CARD,
            activity_title="DBT diary card",
            policy_id=POLICY,
        ),
        NotificationDispatched(
            **_envelope(11),
            reminder_id=REMINDER,
            client_ref=CLIENT,
            assignment_id=ASSIGNMENT,
            channel=Channel.SMS,
            provider="twilio",
            provider_message_id="SM0123456789abcdef0123456789abcdef",
        ),
        NotificationFailed(
            **_envelope(12),
            reminder_id=REMINDER,
            client_ref=CLIENT,
            assignment_id=ASSIGNMENT,
            channel=Channel.SMS,
            provider="twilio",
            reason="21211: invalid 'To' phone number",
            permanent=True,
        ),
        NotificationSuppressed(
            **_envelope(13),
            reminder_id=REMINDER,
            client_ref=CLIENT,
            assignment_id=ASSIGNMENT,
            channel=Channel.SMS,
            reason=SuppressionReason.QUIET_HOURS,
            deferred_until=datetime(2026, 11, 24, 7, 0, tzinfo=UTC),
        ),
        DeliveryStatusChanged(
            **_envelope(14),
            provider="twilio",
            provider_message_id="SM0123456789abcdef0123456789abcdef",
            reminder_id=REMINDER,
            channel=Channel.SMS,
            status=DeliveryStatus.DELIVERED,
            reported_at=datetime(2026, 11, 23, 8, 7, 15, tzinfo=UTC),
        ),
        ConsentChanged(
            **_envelope(15),
            client_ref=CLIENT,
            channel=Channel.SMS,
            opted_out=True,
            source="sms_keyword",
        ),
        PushSubscriptionRevoked(
            **_envelope(22),
            client_ref=CLIENT,
            reminder_id=REMINDER,
            provider="webpush",
            status_code=410,
        ),
        CompletionReported(
            **_envelope(16),
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            completed_at=datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
            source=CompletionSource.SMS,
            reminder_id=REMINDER,
        ),
        SchedulerBacklogReported(
            **{**_envelope(22), "clinic_id": "system"},
            replica="scheduler-a1b2",
            pending_timers=1342,
            next_due_at=datetime(2026, 11, 21, 8, 0, 4, tzinfo=UTC),
        ),
        ClientPlansChanged(
            **_envelope(23),
            plans=(
                ClientPlan(
                    client_ref=CLIENT,
                    cause="activity.assigned",
                    causation_id=UUID(int=1),
                    correlation_id="corr-demo-0001",
                    planned_at=AT,
                    upcoming=(
                        PlannedItem(
                            reminder_id=REMINDER,
                            assignment_id=ASSIGNMENT,
                            occurrence_date=date(2026, 11, 23),
                            purpose=ReminderPurpose.REMINDER,
                            planned_for=datetime(2026, 11, 23, 8, 7, 0, tzinfo=UTC),
                            slot="0900",
                        ),
                        PlannedItem(
                            reminder_id="r-2b5d0c1e9f7a4d3b8c6e1f0a9b8c7d6e",
                            assignment_id=ASSIGNMENT,
                            occurrence_date=date(2026, 11, 23),
                            purpose=ReminderPurpose.NUDGE,
                            planned_for=datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC),
                            slot="N2100",
                            moved_from=datetime(2026, 11, 23, 20, 2, 0, tzinfo=UTC),
                        ),
                    ),
                    held_back=(
                        HeldBackItem(
                            assignment_id=ASSIGNMENT,
                            occurrence_date=date(2026, 11, 24),
                            purpose=ReminderPurpose.LEAD,
                            would_fire_at=datetime(2026, 11, 23, 17, 0, 0, tzinfo=UTC),
                            reason="cap_per_day",
                        ),
                    ),
                    horizon_end=datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC),
                ),
            ),
        ),
        ReminderDelivered(
            **_envelope(17),
            reminder_id=REMINDER,
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            purpose=ReminderPurpose.REMINDER,
            channel=Channel.SMS,
            delivered_at=datetime(2026, 11, 23, 8, 7, 15, tzinfo=UTC),
        ),
        ReminderFailed(
            **_envelope(18),
            reminder_id=REMINDER,
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            channel=Channel.EMAIL,
            reason="mailbox unavailable (bounced)",
        ),
        CompletionRecorded(
            **_envelope(19),
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date(2026, 11, 23),
            completed_at=datetime(2026, 11, 23, 18, 5, tzinfo=UTC),
            source=CompletionSource.LINK,
        ),
        AdherenceSummary(
            **_envelope(20),
            session_id="sess-88",
            client_ref=CLIENT,
            therapist_ref=THERAPIST,
            period_start=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
            period_end=datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
            assignments=(
                AssignmentAdherence(
                    assignment_id=ASSIGNMENT,
                    activity_kind="diary_card",
                    due=7,
                    done=6,
                    missed=1,
                    rate=6 / 7,
                    current_streak=4,
                    longest_streak=4,
                    ratings=(7, 6, 8),
                ),
            ),
            due=7,
            done=6,
            rate=6 / 7,
        ),
        ClinicianAlert(
            **_envelope(21),
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            therapist_ref=THERAPIST,
            consecutive_missed=3,
            last_missed_date=date(2026, 11, 25),
        ),
        *erasure_examples(),
    ]
    return {item.type_tag(): item for item in items}


def erasure_examples() -> list[Event]:
    """A client's erasure: the EHR's request, one service's report, the answer."""
    erased = ClientErased(**_envelope(90), client_ref=CLIENT)
    counts = {"timers": 4, "client_state": 1, "policy_memberships": 1}
    return [
        erased,
        ClientErasureReported(
            **_envelope(91),
            causation_id=erased.event_id,
            erasure_event_id=erased.event_id,
            client_ref=CLIENT,
            service="scheduler",
            counts=counts,
        ),
        ClientErasureCompleted(
            **_envelope(92),
            causation_id=erased.event_id,
            client_ref=CLIENT,
            erasure_event_id=erased.event_id,
            counts={
                "scheduler": counts,
                "notifier": {"contacts": 1, "opt_outs": 1, "cap_keys": 3, "number_links": 2},
                "tracker": {"assignments": 1, "completions": 6, "reminders": 9, "timeline": 1},
            },
        ),
    ]
