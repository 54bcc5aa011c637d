"""Completion, cancellation and pause stop reminders already on their way: held in a
retry tier after a provider 503, by the rate limiter, or deferred by quiet hours. And
every send is announced with its occurrence, purpose and done link, the same each time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from notifier.handlers import apply_directory_event
from shared.contracts import (
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    CompletionRecorded,
    CompletionSource,
    Event,
    NotificationDispatched,
    QuietHours,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.errors import TransientError
from shared.links import done_code
from shared.settings import secret_values
from tests.notifier.conftest import Harness, Rig, reminder

pytestmark = pytest.mark.integration


def stopping(kind: str, due: ReminderDue) -> Event:
    """The EHR's (or the tracker's) event that makes ``due`` moot."""
    env: dict[str, Any] = {
        **new_envelope(),
        "clinic_id": due.clinic_id,
        "assignment_id": due.assignment_id,
        "client_ref": due.client_ref,
    }
    if kind == "completed":
        return CompletionRecorded(
            **env,
            occurrence_date=due.occurrence_date,
            completed_at=datetime.now(UTC),
            source=CompletionSource.LINK,
        )
    if kind == "cancelled":
        return ActivityCancelled(**env, version=due.assignment_version)
    return ActivityPaused(**env, version=due.assignment_version, until=None)


def uuid_reminder(client_ref: str, **kw: Any) -> ReminderDue:
    return reminder(
        client_ref,
        reminder_id="rem-" + uuid.uuid4().hex,
        assignment_id=str(uuid.uuid4()),
        **kw,
    )


@pytest.mark.parametrize("kind", ["completed", "paused"])
async def test_a_reminder_in_a_retry_tier_after_a_503_is_stopped(
    harness: Harness, kind: str
) -> None:
    client = str(uuid.uuid4())
    await harness.clinic()
    await harness.client(client)
    await asyncio.sleep(0.3)
    harness.twilio.fail_next, harness.twilio.retry_after = 1, "3"
    due = uuid_reminder(client)
    await harness.publish(due)
    await harness.wait_event("notification.failed", reminder_id=due.reminder_id)
    await harness.publish(stopping(kind, due))  # arrives while the reminder waits to retry
    suppressed = await harness.wait_event(
        "notification.suppressed", reminder_id=due.reminder_id, timeout=30
    )
    assert suppressed["reason"] == kind
    assert suppressed["correlation_id"] == due.correlation_id
    await asyncio.sleep(0.5)
    assert harness.twilio.messages == []
    assert harness.smtp.received == []
    assert harness.events("notification.dispatched", reminder_id=due.reminder_id) == []


@pytest.mark.parametrize(
    "harness", [{"sms_rate_per_second": 0.5, "rate_wait_max_seconds": 5}], indirect=True
)
async def test_a_reminder_waiting_for_a_rate_limit_token_is_stopped_by_a_cancel(
    harness: Harness,
) -> None:
    client = str(uuid.uuid4())
    await harness.clinic()
    await harness.client(client)
    await asyncio.sleep(0.3)
    first = uuid_reminder(client)
    await harness.publish(first)  # takes the only token for the next two seconds
    await harness.wait_event("notification.dispatched", reminder_id=first.reminder_id)
    held = uuid_reminder(client)
    await harness.publish(held)
    await asyncio.sleep(0.5)  # it is now waiting for a token
    await harness.publish(stopping("cancelled", held))
    suppressed = await harness.wait_event(
        "notification.suppressed", reminder_id=held.reminder_id, timeout=15
    )
    assert suppressed["reason"] == "cancelled"
    assert len(harness.twilio.messages) == 1
    assert harness.events("notification.dispatched", reminder_id=held.reminder_id) == []


async def test_an_ehr_completion_stops_a_queued_nudge_but_not_the_encouragement(
    harness: Harness,
) -> None:
    client = str(uuid.uuid4())
    await harness.clinic()
    await harness.client(client)
    await asyncio.sleep(0.3)
    nudge = uuid_reminder(client, purpose=ReminderPurpose.NUDGE)
    done = ActivityCompleted(
        **new_envelope(),
        clinic_id=nudge.clinic_id,
        assignment_id=nudge.assignment_id,
        client_ref=client,
        occurrence_date=nudge.occurrence_date,
        completed_at=datetime.now(UTC),
    )
    await harness.publish(done)
    await asyncio.sleep(0.3)
    await harness.publish(nudge)
    suppressed = await harness.wait_event("notification.suppressed", reminder_id=nudge.reminder_id)
    assert suppressed["reason"] == "completed"
    cheer = reminder(
        client,
        reminder_id="rem-" + uuid.uuid4().hex,
        assignment_id=nudge.assignment_id,
        purpose=ReminderPurpose.ENCOURAGEMENT,
    )
    await harness.publish(cheer)
    sent = await harness.wait_event("notification.dispatched", reminder_id=cheer.reminder_id)
    assert sent["purpose"] == "encouragement"
    assert sent["link_code"] is None
    assert harness.twilio.messages[-1].body.count("/d/") == 0


@pytest.mark.parametrize("kind", ["completed", "cancelled", "paused"])
async def test_a_reminder_deferred_by_quiet_hours_is_stopped_when_it_comes_back(
    rig: Rig, kind: str
) -> None:
    now = datetime(2026, 11, 23, 20, 55, tzinfo=UTC)
    await rig.prefs(quiet_hours=QuietHours(start=time(20, 0), end=time(21, 0)))
    due = reminder("cl-d", occurrence_date=date(2026, 11, 23))
    with pytest.raises(TransientError):
        await rig.runtime.dispatcher.handle(due, now=now)
    await apply_directory_event(rig.runtime, stopping(kind, due))  # type: ignore[arg-type]
    await rig.runtime.dispatcher.handle(due, now=now + timedelta(minutes=6))
    assert rig.sms.sent == []
    assert rig.email.sent == []
    assert [(e.type_tag(), getattr(e, "reason", None)) for e in rig.published] == [
        ("notification.suppressed", "quiet_hours"),
        ("notification.suppressed", kind),
    ]


async def test_a_newer_assignment_version_is_sent_after_a_cancel(rig: Rig) -> None:
    await rig.prefs()
    old = reminder("cl-d", 0, assignment_version=2)
    await apply_directory_event(rig.runtime, stopping("cancelled", old))  # type: ignore[arg-type]
    await rig.runtime.dispatcher.handle(old)
    await rig.runtime.dispatcher.handle(reminder("cl-d", 1, assignment_version=3))
    assert len(rig.sms.sent) == 1
    assert getattr(rig.published[0], "reason") == "cancelled"  # noqa: B009


async def test_every_dispatched_event_carries_the_done_link_the_same_each_time(rig: Rig) -> None:
    await rig.prefs()
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    due = reminder("cl-d", reminder_id="rem-" + uuid.uuid4().hex)
    await rig.runtime.dispatcher.handle(due, now=now)
    await rig.runtime.dispatcher.handle(due, now=now + timedelta(hours=5))  # a redelivery
    first, again = rig.published
    assert isinstance(first, NotificationDispatched)
    assert first.model_dump(exclude={"occurred_at"}) == again.model_dump(exclude={"occurred_at"})
    secrets = secret_values(rig.runtime.settings.link_secrets)
    assert first.link_code == done_code(secrets, due.clinic_id, due.reminder_id)
    assert first.link_expires_at == now + timedelta(hours=72)
    assert first.occurrence_date == due.occurrence_date
    assert first.purpose is ReminderPurpose.REMINDER
    assert first.link_code in rig.sms.sent[0].text
    assert len(rig.sms.sent) == 1
