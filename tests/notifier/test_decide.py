"""The send decision on plain values: no Redis, no broker."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from notifier.assignments import AssignmentState, Status
from notifier.compose import LinkConfig
from notifier.decide import (
    AlreadySent,
    Defer,
    Drop,
    Fail,
    Rules,
    Send,
    SendContext,
    Suppress,
    decide,
)
from notifier.outcomes import SentRecord
from shared.contracts import (
    ActivityKind,
    Caps,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    QuietHours,
    ReminderDue,
    ReminderPurpose,
    SuppressionReason,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.messages.sms_text import OPT_OUT_TEXT

CLINIC = str(uuid.uuid4())
CLIENT = str(uuid.uuid4())
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLINIC_NAME = "Riverside Community Psychotherapy and Counselling Centre"
RULES = Rules(
    LinkConfig(
        secrets=("a-link-secret-of-some-length",),
        tracker_base_url="https://go.example-clinic.org",
        notifier_base_url="https://notify.example-clinic.org",
        ttl=timedelta(hours=72),
    ),
    quiet_defer_max=600,
)


def due(**kw: object) -> ReminderDue:
    data: dict[str, object] = {
        **new_envelope(),
        "clinic_id": CLINIC,
        "reminder_id": "rem-" + uuid.uuid4().hex,
        "assignment_id": str(uuid.uuid4()),
        "assignment_version": 2,
        "client_ref": CLIENT,
        "occurrence_date": date(2026, 11, 23),
        "purpose": ReminderPurpose.REMINDER,
        "planned_for": NOW,
        "activity_kind": ActivityKind.EXPOSURE,
        "activity_title": "Exposure step: bus ride",
        "policy_id": example_policy().policy_id,
    }
    data.update(kw)
    return ReminderDue.model_validate(data)


def prefs(**kw: object) -> ClientPreferencesChanged:
    data: dict[str, object] = {
        **new_envelope(),
        "clinic_id": CLINIC,
        "client_ref": CLIENT,
        "version": 1,
        "timezone": "Europe/Berlin",
        "contacts": ContactPoints(sms="+4915112345678", email="client@example.org"),
        "consent": ChannelConsent(sms=True, email=True),
    }
    data.update(kw)
    return ClientPreferencesChanged.model_validate(data)


def context(**kw: object) -> SendContext:
    policy = example_policy()
    policy = policy.model_copy(
        update={"messaging": policy.messaging.model_copy(update={"clinic_name": CLINIC_NAME})}
    )
    values: dict[str, object] = {"prefs": prefs(), "policy": policy}
    values.update(kw)
    return SendContext(**values)  # type: ignore[arg-type]


def test_a_reminder_sent_before_is_announced_again_from_its_record() -> None:
    record = SentRecord("sms", "twilio", "SM" + "0" * 32, "2026-11-22", "nudge", "code-1234")
    decision = decide(due(), context(sent=record), NOW, RULES)
    assert isinstance(decision, AlreadySent)
    assert decision.announcement.provider_message_id == record.provider_message_id
    assert decision.announcement.occurrence_date == date(2026, 11, 22)
    assert decision.announcement.purpose is ReminderPurpose.NUDGE


def test_a_cancelled_assignment_suppresses_before_anything_else() -> None:
    state = AssignmentState(version=2, status=Status.CANCELLED)
    quiet = prefs(quiet_hours=QuietHours(start=time(0), end=time(23, 59)))
    decision = decide(due(), context(assignment=state, prefs=quiet), NOW, RULES)
    assert isinstance(decision, Suppress)
    assert decision.announcement.reason is SuppressionReason.CANCELLED
    assert decision.once == "suppressed"


def test_quiet_hours_ending_soon_defer_and_later_ones_drop() -> None:
    # 12:00 UTC is 13:00 in Berlin.
    soon = prefs(quiet_hours=QuietHours(start=time(12, 0), end=time(13, 5)))
    decision = decide(due(), context(prefs=soon), NOW, RULES)
    assert isinstance(decision, Defer)
    assert decision.wait == 300
    assert decision.announcement.deferred_until == NOW + timedelta(minutes=5)
    assert decision.once == "quiet"
    late = prefs(quiet_hours=QuietHours(start=time(12, 0), end=time(18, 0)))
    dropped = decide(due(), context(prefs=late), NOW, RULES)
    assert isinstance(dropped, Drop)
    assert dropped.announcement.deferred_until is None
    assert dropped.announcement.reason is SuppressionReason.QUIET_HOURS


def test_a_stopped_number_fails_over_to_email_and_an_opt_out_everywhere_suppresses() -> None:
    decision = decide(due(), context(number_stopped=True), NOW, RULES)
    assert isinstance(decision, Send)
    assert decision.channels == (Channel.EMAIL,)
    out = context(opted_out=frozenset({Channel.EMAIL}), number_stopped=True)
    suppressed = decide(due(), out, NOW, RULES)
    assert isinstance(suppressed, Suppress)
    assert suppressed.announcement.reason is SuppressionReason.OPTED_OUT


def test_every_channel_failed_before_is_a_permanent_failure() -> None:
    failed = frozenset({Channel.SMS, Channel.EMAIL})
    decision = decide(due(), context(failed=failed), NOW, RULES)
    assert isinstance(decision, Fail)
    assert decision.announcement.permanent


def test_no_preferences_is_no_contact() -> None:
    decision = decide(due(), context(prefs=None), NOW, RULES)
    assert isinstance(decision, Suppress)
    assert decision.announcement.reason is SuppressionReason.NO_CONTACT


def test_a_send_carries_its_messages_cap_slot_and_link() -> None:
    event = due()
    decision = decide(event, context(), NOW, RULES)
    assert isinstance(decision, Send)
    assert decision.channels == (Channel.SMS, Channel.EMAIL)
    assert decision.caps == Caps()
    assert decision.period.day == "2026-11-23"
    assert decision.link is not None
    assert decision.link.expires_at == NOW + timedelta(hours=72)
    sms = decision.messages[Channel.SMS]
    assert decision.link.url in sms.text
    assert OPT_OUT_TEXT in sms.text  # the clinic's first text to this number
    assert (sms.clinic_id, sms.reminder_id, sms.correlation_id) == (
        CLINIC,
        event.reminder_id,
        event.correlation_id,
    )
    again = decide(event, context(first_sms=False), NOW, RULES)
    assert isinstance(again, Send)
    assert OPT_OUT_TEXT not in again.messages[Channel.SMS].text


def test_failed_and_suppressed_say_which_day_and_purpose() -> None:
    event = due(purpose=ReminderPurpose.NUDGE)
    decision = decide(event, context(prefs=None), NOW, RULES)
    assert isinstance(decision, Suppress)
    assert decision.announcement.occurrence_date == event.occurrence_date
    assert decision.announcement.purpose is ReminderPurpose.NUDGE
    failed = decide(event, context(failed=frozenset({Channel.SMS, Channel.EMAIL})), NOW, RULES)
    assert isinstance(failed, Fail)
    assert failed.announcement.occurrence_date == event.occurrence_date
    assert failed.announcement.purpose is ReminderPurpose.NUDGE
