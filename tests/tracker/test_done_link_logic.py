"""What a done link's code stands for and what a tap may do, decided on plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.contracts import NotificationDispatched
from tracker import pages
from tracker.done_links import FALLBACK_VALID_FOR, LinkRecord, LinkState, link_record, link_state

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RECORD = LinkRecord(
    clinic_id="clinic-a",
    assignment_id="asg-1",
    client_ref="client-1",
    occurrence_date=date(2026, 3, 2),
    reminder_id="rem-1",
    correlation_id="ehr-1",
    expires_at=NOW + timedelta(hours=1),
)


def sent(**extra: object) -> NotificationDispatched:
    return NotificationDispatched.model_validate(
        {
            "clinic_id": "clinic-a",
            "reminder_id": "rem-1",
            "client_ref": "client-1",
            "channel": "sms",
            "provider": "twilio",
            "provider_message_id": "SM1",
            "occurred_at": NOW,
            "correlation_id": "from-the-send",
            "link_code": "A" * 21,
            **extra,
        }
    )


def test_a_link_is_refused_unknown_expired_or_valid() -> None:
    assert link_state(False, RECORD, NOW) is LinkState.INVALID  # authenticity first
    assert link_state(True, None, NOW) is LinkState.UNKNOWN
    assert link_state(True, RECORD, NOW) is LinkState.VALID
    assert link_state(True, RECORD, RECORD.expires_at) is LinkState.EXPIRED


def test_the_reminders_record_fills_what_the_send_leaves_out() -> None:
    reminder = {
        "assignment_id": "asg-9",
        "occurrence_date": "2026-03-01",
        "correlation_id": "ehr-9",
    }
    record = link_record(sent(), reminder)
    assert record is not None
    assert (record.assignment_id, record.occurrence_date) == ("asg-9", date(2026, 3, 1))
    assert record.correlation_id == "ehr-9"  # the first word on the reminder: the EHR's
    assert record.expires_at == NOW + FALLBACK_VALID_FOR
    own = sent(assignment_id="asg-1", occurrence_date="2026-03-02", link_expires_at=NOW)
    assert link_record(own, {}) == RECORD.model_copy(
        update={"correlation_id": "from-the-send", "expires_at": NOW}
    )
    assert link_record(sent(), {}) is None  # no day, no assignment: nothing to record


def test_pages_are_kind_and_name_nothing_but_the_day() -> None:
    page = pages.confirm("en", date(2026, 3, 2))
    assert "Monday 2 March" in page
    assert page.count("<button") == 1
    assert '<form method="post">' in page
    assert "action=" not in page  # posts back to the URL that was opened
    told = (
        pages.notice("en", lambda t: t.recorded),
        pages.notice("en", lambda t: t.expired),
        pages.notice("en", lambda t: t.invalid),
        pages.notice("en", lambda t: t.outdated),
    )
    for text in (page, *told):
        assert "homework" not in text.lower()
        assert "<script" not in text
        assert "http" not in text
