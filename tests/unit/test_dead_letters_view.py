"""What the dead-letter tool shows and selects, without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.dead_letters import (
    DeadLetter,
    Selection,
    UnknownQueueError,
    audit_record,
    describe,
    entry_id,
    redact_body,
    replay_headers,
    resolve_queue,
)
from shared.dlq_cli import build_parser, format_entry, selection
from shared.settings import redis_prefix
from shared.topology import Topology

AT = datetime(2026, 11, 23, 8, 7, 12, tzinfo=UTC)
PHONE = "+15005550199"
HANDLED: dict[str, Any] = {
    "traceparent": "00-abc-def-01",
    "x-bs-attempt": 7,
    "x-bs-last-error": "TransientError: provider timeout",
    "x-bs-dead-letter-reason": f"gave up after 8 attempts; last error: 503 for {PHONE}",
    "x-bs-error-type": "TransientError",
    "x-bs-source-queue": "notifier.reminders",
    "x-bs-routing-key": "reminder.due",
    "x-bs-dead-lettered-at": AT.isoformat(),
    "x-death": [{"reason": "expired", "queue": "bs.retry.30s.wait", "count": 1, "time": AT}],
    "x-first-death-reason": "expired",
    "x-delivery-count": 3,
}
BROKER: dict[str, Any] = {
    "x-death": [
        {
            "count": 1,
            "reason": "delivery_limit",
            "queue": "tracker.events",
            "time": AT,
            "exchange": "bs.internal",
            "routing-keys": ["notification.dispatched"],
        }
    ],
    "x-first-death-reason": "delivery_limit",
}


def body(**extra: Any) -> bytes:
    event = {
        "event_id": "5f0e2a7c-3c1b-4f8e-9a51-0d6f1b2c3d4e",
        "type": "client.preferences.changed",
        "client_ref": "cl-1",
        "contacts": {"sms": PHONE, "email": "jo@example.org"},
        **extra,
    }
    return json.dumps(event).encode()


def entry(**changes: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "id": "m-1/abc",
        "dlq": "notifier.reminders.dlq",
        "message_id": "m-1",
        "correlation_id": "c-1",
        "origin": "handling",
        "reason": "gave up after 8 attempts; last error: provider timeout",
        "error_type": "TransientError",
        "source_queue": "notifier.reminders",
        "routing_key": "reminder.due",
        "dead_lettered_at": AT,
        "attempt": 7,
        "replays": 0,
        "body_bytes": 10,
        "body": "{}",
    }
    return DeadLetter(**(fields | changes))


def test_a_shown_body_has_no_contact_points_or_free_text() -> None:
    shown = redact_body(body(note=f"call me on {PHONE}", activity_title="Grief diary", x=[PHONE]))
    assert PHONE not in shown
    assert "jo@example.org" not in shown
    assert "Grief diary" not in shown
    data = json.loads(shown)
    assert data["contacts"] == data["note"] == data["activity_title"] == "[redacted]"
    assert data["x"] == ["[phone]"]
    assert data["event_id"] == "5f0e2a7c-3c1b-4f8e-9a51-0d6f1b2c3d4e"


def test_flags_under_sensitive_names_are_shown() -> None:
    shown = json.loads(redact_body(body(consent={"sms": True, "email": False}, reason=None)))
    assert shown["consent"] == {"sms": True, "email": False}
    assert shown["reason"] is None


def test_a_body_that_is_not_json_is_scrubbed_too() -> None:
    broken = b'{"note": "ring ' + PHONE.encode() + b'", "text": "hello", "client_ref": "cl-1"'
    shown = redact_body(broken)
    assert PHONE not in shown
    assert "hello" not in shown
    assert '"client_ref": "cl-1"' in shown


def test_a_long_or_deep_body_is_cut() -> None:
    long = redact_body(json.dumps({"items": list(range(5000))}).encode(), limit=100)
    assert long.endswith("more characters)")
    assert len(long) < 140
    deep = redact_body(b'{"a": ' + b"[" * 50 + b"]" * 50 + b"}")
    assert "[nested deeper than shown]" in deep


def test_a_message_dead_lettered_by_the_middleware_shows_its_headers() -> None:
    view = describe("notifier.reminders.dlq", HANDLED, body(), message_id="m-1")
    assert view.origin == "handling"
    assert view.reason == "gave up after 8 attempts; last error: 503 for [phone]"
    assert view.error_type == "TransientError"
    assert view.source_queue == "notifier.reminders"
    assert view.routing_key == "reminder.due"
    assert view.dead_lettered_at == AT
    assert view.attempt == 7
    assert view.id.startswith("m-1/")
    assert PHONE not in view.body


def test_a_message_the_broker_dead_lettered_shows_what_is_known() -> None:
    view = describe("tracker.events.dlq", BROKER, b"{}", message_id=None)
    assert view.origin == "broker"
    assert view.error_type == "delivery_limit"
    assert "tracker.events" in view.reason
    assert view.routing_key == "notification.dispatched"
    assert view.dead_lettered_at == AT
    assert view.attempt is None
    assert view.id.startswith("no-id/")
    bare = describe("tracker.events.dlq", {}, b"{}")
    assert bare.origin == "unknown"
    assert bare.dead_lettered_at is None


def test_entry_ids_tell_apart_copies_of_one_message() -> None:
    assert entry_id("m-1", b"{}", "t1") == entry_id("m-1", b"{}", "t1")
    assert entry_id("m-1", b"{}", "t1") != entry_id("m-1", b"{}", "t2")
    assert entry_id("m-1", b"{}", "t1") != entry_id("m-1", b"{ }", "t1")


def test_a_replay_resets_the_attempts_and_keeps_the_event_type() -> None:
    headers = replay_headers(HANDLED, entry(replays=1))
    assert headers == {
        "traceparent": "00-abc-def-01",
        "x-bs-routing-key": "reminder.due",
        "x-bs-replays": 2,
    }
    assert replay_headers({}, entry(routing_key=None)) == {"x-bs-replays": 1}


def test_an_empty_selection_matches_nothing() -> None:
    assert Selection().is_empty
    assert not Selection().matches(entry())
    assert Selection(everything=True).matches(entry())


def test_ids_select_by_entry_id_or_message_id() -> None:
    assert Selection(ids=frozenset({"m-1/abc"})).matches(entry())
    assert Selection(ids=frozenset({"m-1"})).matches(entry())
    assert not Selection(ids=frozenset({"m-2"})).matches(entry())


@pytest.mark.parametrize(
    ("select", "matches"),
    [
        (Selection(reason_contains="PROVIDER"), True),
        (Selection(reason_contains="clinic"), False),
        (Selection(routing_key="reminder.due", error_type="TransientError"), True),
        (Selection(routing_key="reminder.due", error_type="ValidationError"), False),
        (Selection(before=AT + timedelta(seconds=1)), True),
        (Selection(before=AT), False),
        (Selection(after=AT), True),
        (Selection(after=AT + timedelta(seconds=1)), False),
        (Selection(everything=True, routing_key="x"), False),
    ],
)
def test_filters_must_all_match(select: Selection, matches: bool) -> None:
    assert select.matches(entry()) is matches


def test_a_time_filter_skips_messages_without_a_time() -> None:
    assert not Selection(after=AT).matches(entry(dead_lettered_at=None))


def test_the_audit_record_never_holds_the_body() -> None:
    record = audit_record(entry(body=PHONE), reason="sender bug", who="anna", at=AT)
    assert PHONE not in json.dumps(record)
    assert record["who"] == "anna"
    assert record["reason"] == "sender bug"
    assert record["dead_letter_reason"].startswith("gave up")
    assert record["routing_key"] == "reminder.due"
    assert all(isinstance(v, str) for v in record.values())


def test_queues_are_named_by_base_or_dlq_name() -> None:
    topology = Topology(namespace="x")
    assert resolve_queue(topology, "tracker.events") == "tracker.events"
    assert resolve_queue(topology, "tracker.events.dlq") == "tracker.events"
    with pytest.raises(UnknownQueueError, match=r"notifier\.reminders"):
        resolve_queue(topology, "notifier")


def test_the_cli_builds_the_selection_and_prefix_from_its_options() -> None:
    args = build_parser().parse_args(
        ["replay", "--queue", "tracker.events", "--id", "a", "--id", "b", "--after", "2026-11-23"]
    )
    chosen = selection(args)
    assert chosen.ids == {"a", "b"}
    assert chosen.after == datetime(2026, 11, 23, tzinfo=UTC)
    assert redis_prefix("") == "bs"
    assert redis_prefix("t-1") == "t-1:bs"


def test_the_cli_shows_an_entry_on_a_few_lines() -> None:
    shown = format_entry(1, entry(body='{\n  "a": 1\n}'))
    assert shown.splitlines()[0] == "1. m-1/abc"
    assert "routing key: reminder.due" in shown
    assert '       "a": 1' in shown
