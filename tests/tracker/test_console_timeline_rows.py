"""The console's timeline, decided and assembled on plain values (no Redis)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contracts import ClientPlan, DeliveryStatus, HeldBackItem, PlannedItem
from tracker.decide.delivery import About, Fact, Loaded, decide
from tracker.decide.timeline import (
    PENDING,
    activity_rows,
    completion_entry,
    delivery_step,
    plan_change,
    plan_rows,
    reminder_view,
    slot_words,
    timeline_rows,
    words,
)
from tracker.records import AssignmentRecord

S = DeliveryStatus
NOW = datetime(2026, 11, 9, 18, 30, tzinfo=UTC)
CLINIC = "praxis-am-stadtpark-" + str(uuid.UUID(int=3))
CLIENT = str(uuid.UUID(int=8))
ASSIGNMENT = str(uuid.UUID(int=7))
REMINDER = str(uuid.UUID(int=42))
ABOUT = About(ASSIGNMENT, CLIENT, date(2026, 11, 9), "reminder", "ehr-1")
CAUSED = {"clinic_id": CLINIC}


def applied(loaded: Loaded, fact: Fact) -> tuple[Loaded, list[dict[str, str]], str | None]:
    change = decide(loaded, fact, CAUSED, NOW)
    state = Loaded({**loaded.reminder, **change.reminder}, {**loaded.message, **change.message})
    return state, change.timeline, change.timeline_client


def plan(at: datetime, *, moved: bool = True, held: bool = True) -> ClientPlan:
    upcoming = [
        PlannedItem(
            reminder_id=REMINDER,
            assignment_id=ASSIGNMENT,
            occurrence_date=date(2026, 11, 10),
            purpose="reminder",
            planned_for=datetime(2026, 11, 10, 7, 0, tzinfo=UTC),
            slot="0600",
            moved_from=datetime(2026, 11, 10, 5, 0, tzinfo=UTC) if moved else None,
        )
    ]
    held_back = [
        HeldBackItem(
            assignment_id=ASSIGNMENT,
            occurrence_date=date(2026, 11, 10),
            purpose="nudge",
            would_fire_at=datetime(2026, 11, 10, 19, 0, tzinfo=UTC),
            reason="cap_per_day",
        )
    ]
    return ClientPlan(
        client_ref=CLIENT,
        cause="activity.assigned",
        correlation_id="corr-1",
        planned_at=at,
        upcoming=tuple(upcoming),
        held_back=tuple(held_back) if held else (),
        horizon_end=at + timedelta(days=14),
    )


def test_each_delivery_state_goes_on_the_timeline_once_with_its_reason() -> None:
    sent = Fact(CLINIC, REMINDER, "sms", S.SENT, "twilio", about=ABOUT, at=NOW)
    state, entries, client = applied(Loaded(), sent)
    assert client == CLIENT
    [entry] = entries
    assert entry["kind"] == "sent"
    assert entry["provider"] == "twilio"
    assert entry["assignment_id"] == ASSIGNMENT
    assert "reason" not in entry
    failed = Fact(CLINIC, REMINDER, "sms", S.UNDELIVERED, "twilio", "30003 to +4915112345678")
    state, entries, _ = applied(state, failed)
    assert entries[0]["reason"] == "30003 to [number]"
    assert "4915" not in json.dumps(entries)
    _, again, client = applied(state, failed)
    assert (again, client) == ([], None)


def test_a_callback_before_its_send_waits_for_the_client_then_goes_out_with_it() -> None:
    early = Fact(CLINIC, REMINDER, "sms", S.DELIVERED, "twilio", "delivered", at=NOW)
    state, entries, client = applied(Loaded(), early)
    assert (entries, client) == ([], None)
    assert json.loads(state.reminder[PENDING])[0]["kind"] == "delivered"
    sent = Fact(CLINIC, REMINDER, "sms", S.SENT, "twilio", about=ABOUT, at=NOW)
    state, entries, client = applied(state, sent)
    assert client == CLIENT
    assert [e["kind"] for e in entries] == ["delivered", "sent"]
    # What the reminder is about rides on its first entry; the rows give it to the rest.
    assert entries[0]["assignment_id"] == ASSIGNMENT
    assert "assignment_id" not in entries[1]
    rows = timeline_rows([(f"{i}-0", e) for i, e in enumerate(entries, 1)])
    assert {(r["assignment_id"], r["purpose"]) for r in rows} == {(ASSIGNMENT, "reminder")}
    assert state.reminder[PENDING] == ""


def test_quiet_hours_with_a_deferral_is_a_move() -> None:
    until = NOW + timedelta(hours=10)
    step = delivery_step(
        {"client_ref": CLIENT},
        reminder_id=REMINDER,
        channel="sms",
        status=S.SUPPRESSED,
        provider=None,
        reason="quiet_hours",
        at=NOW,
        until=until,
    )
    [entry] = step.entries
    assert (entry["kind"], entry["until"]) == ("moved", until.isoformat())
    assert words(entry) == "Moved by quiet hours: quiet hours in the client's time zone"


def test_a_plan_is_kept_when_newer_and_its_decisions_are_recorded_once() -> None:
    first = plan_change({}, plan(NOW))
    assert first is not None
    kinds = sorted(e["kind"] for e in first.entries)
    assert kinds == ["held_back", "moved"]
    held = next(e for e in first.entries if e["kind"] == "held_back")
    assert held["reason"] == "cap_per_day"
    kept = {"at": str(first.at), **first.seen}
    assert plan_change(kept, plan(NOW)) is None  # the same plan again
    assert plan_change(kept, plan(NOW - timedelta(minutes=1))) is None  # an older one
    later = plan_change(kept, plan(NOW + timedelta(minutes=5)))
    assert later is not None
    assert later.entries == []


def test_plan_markers_of_days_long_past_are_forgotten() -> None:
    loaded = {"at": "1", "seen:held|a|2026-10-01|nudge|cap_per_day": "2026-10-01"}
    change = plan_change(loaded, plan(NOW, moved=False, held=False))
    assert change is not None
    assert change.forget == ["seen:held|a|2026-10-01|nudge|cap_per_day"]


def test_rows_are_newest_first_with_words_for_every_reason() -> None:
    entries = [
        ("1-0", {"at": "2026-11-09T08:00:00+00:00", "kind": "suppressed", "reason": "cap"}),
        ("2-0", {"at": "2026-11-09T09:00:00+00:00", "kind": "suppressed", "reason": "no_consent"}),
        ("3-0", completion_entry(ASSIGNMENT, date(2026, 11, 9), "sms", NOW, REMINDER)),
        ("4-0", {"at": "2026-11-09T09:00:00+00:00", "kind": "opted_out", "reason": "opted_out"}),
        ("5-0", {"at": "2026-11-09T07:00:00+00:00", "kind": "escalated", "reason": "missed_3"}),
    ]
    rows = timeline_rows(entries)
    assert [r["id"] for r in rows] == ["3-0", "4-0", "2-0", "1-0", "5-0"]
    said = [r["words"] for r in rows]
    assert said == [
        "Completed: the client replied DONE by text",
        "Not sent: opted out: the client opted out of this channel",
        "Not sent: no consent for this channel",
        "Not sent: the client's message cap was reached",
        "Clinician alerted: 3 planned days in a row were missed",
    ]


def test_the_plan_shows_whats_ahead_with_why() -> None:
    shown = plan_rows(plan(NOW), NOW)
    [upcoming] = shown["upcoming"]
    assert upcoming["why"] == "Planned for the policy's time 06:00; moved by quiet hours"
    assert upcoming["moved_from"] == "2026-11-10T05:00:00+00:00"
    [held] = shown["held_back"]
    assert held["why"] == "Held back: the client's daily message cap was reached"
    assert shown["planned_at"] == NOW.isoformat()
    assert plan_rows(plan(NOW), NOW + timedelta(days=2))["upcoming"] == []
    assert plan_rows(None, NOW) == {"known": False, "upcoming": [], "held_back": []}
    assert slot_words("L1-1800") == "a day ahead, at 18:00"
    assert slot_words("N2000") == "a nudge if not done by 20:00"


def test_a_reminders_life_is_its_own_rows_and_its_days_completion() -> None:
    rows = timeline_rows(
        [
            ("1-0", {"at": "2026-11-09T08:00:00+00:00", "kind": "sent", "reminder_id": REMINDER}),
            ("2-0", {"at": "2026-11-09T08:00:00+00:00", "kind": "sent", "reminder_id": "other"}),
            ("3-0", completion_entry(ASSIGNMENT, date(2026, 11, 9), "link", NOW)),
            ("4-0", completion_entry(ASSIGNMENT, date(2026, 11, 8), "link", NOW)),
        ]
    )
    meta = {"client_ref": CLIENT, "assignment_id": ASSIGNMENT, "occurrence_date": "2026-11-09"}
    meta |= {"best": "delivered", "best_channel": "sms", "rev": "3", "announced:delivered": "1"}
    view = reminder_view(REMINDER, meta, {"sms": {"status": "delivered"}, "email": {}}, rows, None)
    assert [r["id"] for r in view["timeline"]] == ["3-0", "1-0"]
    assert view["channels"] == [{"channel": "sms", "status": "delivered", "provider": None}]
    assert "announced:delivered" not in view
    assert "rev" not in view


def test_activities_show_kinds_and_counts_never_titles() -> None:
    record = AssignmentRecord(
        clinic_id=CLINIC,
        assignment_id=ASSIGNMENT,
        version=2,
        client_ref=CLIENT,
        activity_kind="exposure",
        activity_title="Leave the house alone for 30 minutes",
        status="paused",
    )
    [row] = activity_rows([record], {})
    assert (row["activity_kind"], row["status"], row["completed_days"]) == ("exposure", "paused", 0)
    assert "Leave the house" not in json.dumps(row)
