"""What a delivery fact does to a reminder, decided on plain values (no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from shared.contracts import DeliveryStatus, ReminderDelivered, ReminderFailed
from tracker.decide.delivery import About, Change, Fact, Loaded, decide, retried

S = DeliveryStatus
NOW = datetime(2026, 11, 9, 18, 30, tzinfo=UTC)
CLINIC = "praxis-dr-mueller-und-kolleginnen-psychotherapie-" + "7" * 12
REMINDER = str(uuid.UUID(int=42))
ABOUT = About(
    assignment_id=str(uuid.UUID(int=7)),
    client_ref=str(uuid.UUID(int=8)),
    occurrence_date=date(2026, 11, 9),
    purpose="reminder",
    correlation_id="ehr-req-1",
)
CAUSED = {"clinic_id": CLINIC, "correlation_id": "callback-own", "causation_id": uuid.UUID(int=1)}


def fact(status: S, about: About | None = None, **extra: object) -> Fact:
    return Fact(CLINIC, REMINDER, "sms", status, "twilio", about=about, **extra)  # type: ignore[arg-type]


def applied(loaded: Loaded, change: Change) -> Loaded:
    """What the commit leaves in Redis (the claim included)."""
    reminder = {**loaded.reminder, **change.reminder, "rev": str(loaded.rev + 1)}
    if change.claim:
        reminder[change.claim] = "1"
    return Loaded(reminder, {**loaded.message, **change.message}, loaded.announced_before)


def test_the_send_alone_announces_nothing_but_counts_it_sent() -> None:
    change = decide(Loaded(), fact(S.SENT, ABOUT), CAUSED, NOW)
    assert change.announce is None
    assert change.counts == {"sms|twilio|sent": 1}
    assert change.reminder["assignment_id"] == ABOUT.assignment_id
    assert change.message == {"status": "sent", "rank": "1", "left": "1", "provider": "twilio"}


def test_a_status_then_its_send_announces_once_with_the_ehrs_correlation_id() -> None:
    first = decide(Loaded(), fact(S.DELIVERED), CAUSED, NOW)
    assert first.announce is None  # nothing says which assignment or day yet
    assert first.counts == {"sms|twilio|sent": 1, "sms|twilio|delivered": 1}
    state = applied(Loaded(), first)
    second = decide(state, fact(S.SENT, ABOUT), CAUSED, NOW)
    assert second.counts == {}  # the late "sent" changes nothing
    assert isinstance(second.announce, ReminderDelivered)
    assert second.claim == "announced:delivered"
    assert second.announce.correlation_id == "ehr-req-1"
    assert (second.announce.occurrence_date, second.announce.channel) == (date(2026, 11, 9), "sms")
    again = decide(applied(state, second), fact(S.DELIVERED), CAUSED, NOW)
    assert again.empty


def test_the_send_then_its_status_announces_on_the_status() -> None:
    state = applied(Loaded(), decide(Loaded(), fact(S.SENT, ABOUT), CAUSED, NOW))
    change = decide(state, fact(S.UNDELIVERED, reason="30003"), CAUSED, NOW)
    assert isinstance(change.announce, ReminderFailed)
    assert change.announce.reason == "30003"
    assert change.failure is not None
    assert change.failure["status"] == "undelivered"
    assert change.counts == {"sms|twilio|undelivered": 1, "reason|30003": 1}


def test_an_outcome_the_previous_layout_claimed_is_not_announced_again() -> None:
    state = applied(Loaded(), decide(Loaded(), fact(S.SENT, ABOUT), CAUSED, NOW))
    before = Loaded(state.reminder, state.message, frozenset({"delivered"}))
    assert decide(before, fact(S.DELIVERED), CAUSED, NOW).announce is None


def test_without_a_purpose_a_delivery_waits_but_a_failure_does_not() -> None:
    about = About(ABOUT.assignment_id, ABOUT.client_ref, ABOUT.occurrence_date)
    state = applied(Loaded(), decide(Loaded(), fact(S.SENT, about), CAUSED, NOW))
    assert decide(state, fact(S.DELIVERED), CAUSED, NOW).announce is None
    assert isinstance(decide(state, fact(S.BOUNCED), CAUSED, NOW).announce, ReminderFailed)


def test_the_first_word_on_the_reminder_stands() -> None:
    state = applied(Loaded(), decide(Loaded(), fact(S.SENT, ABOUT), CAUSED, NOW))
    other = About(correlation_id="someone-else", occurrence_date=date(2026, 1, 1))
    assert decide(state, fact(S.SENT, other), CAUSED, NOW).reminder == {}


def test_a_retried_attempt_is_counted_and_listed_with_the_reason_scrubbed() -> None:
    counts, entry = retried(fact(S.FAILED, reason="no route to +4915112345678"), NOW)
    assert counts == {"sms|twilio|retried": 1, "reason|no route to [number]": 1}
    assert entry["status"] == "retrying"
    assert "4915" not in str(entry)
