"""Which events wait for each other: a reminder's, and a client's (no broker, no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.contracts import (
    ClinicPolicyChanged,
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    NotificationFailed,
)
from tests.tracker.conftest import dispatched, policy_changed, today_utc
from tracker.handlers import turn_key

CLINIC = "institut-fuer-psychotherapie-und-psychosomatik-" + str(uuid.UUID(int=31))
REMINDER, CLIENT = str(uuid.UUID(int=32)), str(uuid.UUID(int=33))


def callback(reminder_id: str | None) -> DeliveryStatusChanged:
    return DeliveryStatusChanged(
        clinic_id=CLINIC,
        provider="twilio",
        provider_message_id="SM1",
        reminder_id=reminder_id,
        channel="sms",
        status="delivered",
        reported_at=datetime.now(UTC),
    )


def test_a_reminders_events_share_its_turn_and_a_clients_theirs() -> None:
    mine = f"{CLINIC}/{REMINDER}"
    failed = NotificationFailed(
        clinic_id=CLINIC, reminder_id=REMINDER, client_ref=CLIENT, reason="x", permanent=True
    )
    assert turn_key(dispatched(REMINDER, CLINIC)) == mine
    assert turn_key(failed) == mine
    assert turn_key(callback(REMINDER)) == mine
    completed = CompletionReported(
        clinic_id=CLINIC,
        assignment_id=str(uuid.uuid4()),
        client_ref=CLIENT,
        occurrence_date=today_utc(),
        completed_at=datetime.now(UTC),
        source="sms",
    )
    assert turn_key(completed) == f"{CLINIC}/{CLIENT}"


def test_what_needs_no_order_waits_for_nobody() -> None:
    policy: ClinicPolicyChanged = policy_changed(CLINIC)
    consent = ConsentChanged(
        clinic_id=CLINIC, client_ref=CLIENT, channel="sms", opted_out=True, source="sms_keyword"
    )
    assert turn_key(policy) is None
    assert turn_key(consent) is None
    assert turn_key(callback(None)) is None  # placed only once its send is found
