"""Adherence for clinicians (pure): a client's week, who comes first, the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.contracts import ClinicPolicy, Messaging, Schedule
from shared.contracts.policy import Escalation
from tracker.adherence import Completion
from tracker.decide.clinic_adherence import (
    by_attention,
    calendar,
    calendar_counts,
    client_week,
    week_start,
)
from tracker.records import AssignmentRecord, PausePeriod

NOW = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)  # Thursday
MONDAY = date(2026, 11, 9)


def record(assignment_id: str = "a-1", **extra: object) -> AssignmentRecord:
    schedule = Schedule(timezone="UTC", start=date(2026, 11, 1), frequency="daily")
    fields: dict[str, object] = {
        "clinic_id": "c",
        "assignment_id": assignment_id,
        "version": 1,
        "client_ref": "client-1",
        "activity_kind": "mood_log",
        "policy_id": "pol-1",
        "schedule": schedule,
        **extra,
    }
    return AssignmentRecord.model_validate(fields)


def done(*days: int) -> dict[date, Completion]:
    return {date(2026, 11, d): Completion(date(2026, 11, d)) for d in days}


POLICY = ClinicPolicy(
    policy_id="pol-1",
    version=1,
    escalation=Escalation(after_missed=3),
    messaging=Messaging(clinic_name="A"),
)


def test_week_start_is_monday() -> None:
    assert week_start(date(2026, 11, 15)) == MONDAY
    assert week_start(MONDAY) == MONDAY


def test_a_clients_week_is_counts_and_rates() -> None:
    # Mon-Wed due (Thursday is still open): Mon and Tue done, Wed missed.
    row = client_week(
        "client-1",
        [record()],
        {"a-1": done(*range(1, 11))},
        {"pol-1": POLICY},
        monday=MONDAY,
        now=NOW,
    )
    assert row is not None
    assert (row["due"], row["done"], row["missed"], row["rate"]) == (3, 2, 1, round(2 / 3, 4))
    [activity] = row["activities"]
    assert activity["current_streak"] == 0  # Wednesday was missed
    assert activity["escalated"] is False
    assert row["escalated"] is False


def test_misses_that_reach_the_threshold_are_escalated() -> None:
    row = client_week(
        "client-1",
        [record()],
        {"a-1": done(1, 2, 3, 4, 5, 6, 7, 8)},
        {"pol-1": POLICY},
        monday=MONDAY,
        now=NOW,
    )
    assert row is not None
    assert (row["escalated"], row["consecutive_missed"]) == (True, 3)
    assert row["activities"][0]["escalated"] is True


def test_overall_streak_counts_days_on_which_everything_due_was_done() -> None:
    records = [record("a-1"), record("a-2", activity_kind="breathing")]
    completions = {"a-1": done(*range(1, 12)), "a-2": done(9, 10, 11)}
    row = client_week("client-1", records, completions, {"pol-1": POLICY}, monday=MONDAY, now=NOW)
    assert row is not None
    assert row["current_streak"] == 3  # Mon-Wed: both done; before that a-2 was missed
    assert (row["due"], row["done"]) == (6, 6)
    assert row["rate"] == 1.0


def test_escalated_clients_come_first() -> None:
    rows = [
        {"client_ref": "a", "escalated": False, "consecutive_missed": 0},
        {"client_ref": "b", "escalated": True, "consecutive_missed": 3},
        {"client_ref": "c", "escalated": True, "consecutive_missed": 5},
    ]
    assert [r["client_ref"] for r in by_attention(rows)] == ["c", "b", "a"]


def test_a_cancelled_activity_with_nothing_due_that_week_is_left_out() -> None:
    cancelled = record(status="cancelled", cancelled_on=date(2026, 11, 5))
    assert client_week("x", [cancelled], {}, {}, monday=MONDAY, now=NOW) is None


def test_the_calendar_says_done_missed_paused_upcoming_not_due() -> None:
    weekdays = Schedule(timezone="UTC", start=date(2026, 11, 1), frequency="weekdays")
    paused = record(
        schedule=weekdays, pauses=(PausePeriod(start=date(2026, 11, 4), end=date(2026, 11, 4)),)
    )
    cells = calendar(paused, done(2, 3, 12), MONDAY - timedelta(days=7), MONDAY + timedelta(6), NOW)
    states = {c["date"]: c["state"] for c in cells}
    assert states["2026-11-02"] == "done"
    assert states["2026-11-04"] == "paused"
    assert states["2026-11-05"] == "missed"
    assert states["2026-11-07"] == "not_due"  # a Saturday
    assert states["2026-11-12"] == "done"  # today, done
    assert states["2026-11-13"] == "upcoming"
    assert len(cells) == 14
    counts = calendar_counts(cells)
    assert counts["done"] == 3
    assert sum(counts.values()) == 14
