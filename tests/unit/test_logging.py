from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest
import structlog

from shared.logging import configure_logging, get_logger, redact, scrub_text


def test_sensitive_keys_are_redacted_and_text_is_scrubbed() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "sent to +15005550006 and jane@example.org",
            "phone": "+15005550006",
            "body": "Your activity is waiting",
            "nested": {"email": "a@b.co", "count": 3, "items": ["+447911123456"]},
            "reminder_id": "rem-1",
            "occurred": "2026-11-21T09:00:00+00:00",
        },
    )
    assert event["event"] == "sent to [phone] and [email]"
    assert event["phone"] == "[redacted]"
    assert event["body"] == "[redacted]"
    assert event["nested"] == {"email": "[redacted]", "count": 3, "items": ["[phone]"]}
    assert event["reminder_id"] == "rem-1"
    assert event["occurred"] == "2026-11-21T09:00:00+00:00"


def test_scrub_leaves_ids_and_dates_alone() -> None:
    text = "asg-2026-0042 at 2026-11-21 corr 374faada-54e7-4545"
    assert scrub_text(text) == text


def test_json_lines_are_redacted_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", fmt="json")
    try:
        get_logger("t").info("sending", to="+15005550006", reminder_id="rem-9")
        logging.getLogger("library").warning("stdlib says jane@example.org")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert lines[0]["to"] == "[redacted]"
    assert lines[0]["reminder_id"] == "rem-9"
    assert lines[0]["service"] == "test"
    assert lines[1]["event"] == "stdlib says [email]"


def test_json_lines_carry_a_utc_timestamp_and_write_other_types_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", fmt="json")
    try:
        get_logger("t").info("handled", ms=0.5, queue=object(), tags=("a", 1), note="x")
        [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert line["timestamp"].endswith("Z")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() == timedelta(0)
    assert line["ms"] == 0.5
    assert line["queue"].startswith("<object object at")
    assert line["tags"] == ["a", 1]
    assert line["note"] == "[redacted]"
    assert (line["event"], line["level"], line["logger"]) == ("handled", "info", "t")
