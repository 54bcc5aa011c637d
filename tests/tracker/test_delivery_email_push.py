"""Email and push outcomes in the tracker, decided on plain values: every channel's
delivery and failure reaches the EHR (issue 14 item 2), a complaint proves delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from shared.contracts import DeliveryStatus, Event, ReminderDelivered, ReminderFailed
from tracker.decide.delivery import About, Fact, Loaded, consent_entry, decide
from tracker.decide.timeline import words
from tracker.delivery import advance, is_failure, reached

S = DeliveryStatus
NOW = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)
CLINIC = "northside-community-mental-health-and-wellbeing-collective"
REMINDER = str(uuid.uuid4())
ABOUT = About(
    assignment_id=str(uuid.uuid4()),
    client_ref=str(uuid.uuid4()),
    occurrence_date=date(2026, 12, 3),
    purpose="reminder",
    correlation_id="ehr-corr-" + uuid.uuid4().hex[:8],
)
CAUSED = {"clinic_id": CLINIC, "correlation_id": "callback-own", "causation_id": uuid.uuid4()}


def fact(channel: str, status: S, about: About | None = None, reason: str | None = None) -> Fact:
    provider = {"email": "smtp", "push": "webpush"}[channel]
    return Fact(CLINIC, REMINDER, channel, status, provider, reason, about)


def after(channel: str, *facts: tuple[S, About | None, str | None]) -> tuple[Loaded, list[Event]]:
    """Apply facts in order as the commits would; the announcements made on the way."""
    loaded, announced = Loaded(), list[Event]()
    for status, about, reason in facts:
        change = decide(loaded, fact(channel, status, about, reason), CAUSED, NOW)
        reminder = {**loaded.reminder, **change.reminder}
        if change.claim:
            reminder[change.claim] = "1"
        loaded = Loaded(reminder, {**loaded.message, **change.message})
        if change.announce is not None:
            announced.append(change.announce)
    return loaded, announced


@pytest.mark.parametrize("channel", ["email", "push"])
def test_a_delivery_on_any_channel_reaches_the_ehr(channel: str) -> None:
    _, announced = after(channel, (S.SENT, ABOUT, None), (S.DELIVERED, None, None))
    (event,) = announced
    assert isinstance(event, ReminderDelivered)
    assert event.channel == channel
    assert event.correlation_id == ABOUT.correlation_id


def test_a_hard_bounce_is_reminder_failed_with_its_code() -> None:
    _, announced = after("email", (S.SENT, ABOUT, None), (S.BOUNCED, None, "bounce:5.1.1"))
    (event,) = announced
    assert isinstance(event, ReminderFailed)
    assert (event.channel, event.reason) == ("email", "bounce:5.1.1")


def test_a_bounce_after_delivered_still_tells_the_ehr_it_failed() -> None:
    facts = ((S.SENT, ABOUT, None), (S.DELIVERED, None, None), (S.BOUNCED, None, "dsn:5.2.2"))
    _, announced = after("email", *facts)
    assert [type(e) for e in announced] == [ReminderDelivered, ReminderFailed]


def test_a_complaint_proves_delivery_and_is_no_failure() -> None:
    assert reached(S.COMPLAINED)
    assert not is_failure(S.COMPLAINED)
    loaded, announced = after("email", (S.SENT, ABOUT, None), (S.COMPLAINED, None, "spamreport"))
    assert [type(e) for e in announced] == [ReminderDelivered]
    assert loaded.message["status"] == "complained"
    # The delivered event arriving late changes nothing and announces nothing more.
    change = decide(loaded, fact("email", S.DELIVERED), CAUSED, NOW)
    assert change.announce is None
    assert "status" not in change.message


def test_complained_is_counted_once_and_outranks_delivered() -> None:
    assert advance(S.COMPLAINED, S.DELIVERED).current is S.COMPLAINED
    assert advance(S.DELIVERED, S.COMPLAINED, left_before=True).counted() == ("complained",)
    first = advance(None, S.COMPLAINED)
    assert first.first_left
    assert first.counted() == ("sent", "complained")


def test_a_revoked_push_subscription_fails_the_reminder_with_its_reason() -> None:
    _, announced = after("push", (S.FAILED, ABOUT, "push subscription gone (410)"))
    (event,) = announced
    assert isinstance(event, ReminderFailed)
    assert (event.channel, event.reason) == ("push", "push subscription gone (410)")


def test_a_clients_own_stop_goes_on_their_timeline_in_words() -> None:
    entry = consent_entry("email", "email_complaint", True, NOW)
    assert entry == {
        "at": NOW.isoformat(),
        "kind": "channel_off",
        "channel": "email",
        "reason": "email_complaint",
    }
    assert words(entry) == "Channel stopped: the client reported a reminder email as spam"
    back = consent_entry("sms", "sms_keyword", False, NOW)
    assert words(back) == "Channel resumed: the client replied STOP or START"
