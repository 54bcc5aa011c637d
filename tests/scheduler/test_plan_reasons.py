"""The plan says why: where quiet hours moved a reminder from, and which cap held one back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from shared.contracts import (
    ActivityAssigned,
    Caps,
    ClinicPolicy,
    QuietHours,
    ReminderRule,
    new_envelope,
)
from shared.contracts.ehr import Activity, Schedule
from shared.contracts.policy import Messaging, Nudge
from shared.contracts.vocabulary import ActivityKind, Frequency, ReminderPurpose
from shared.planning.ids import TimerMember
from shared.planning.model import AssignmentPlanInput, ClientContext, HeldBack, PlannedReminder
from shared.planning.plan import plan_client

MONDAY = datetime(2026, 5, 4, 0, tzinfo=UTC)
NIGHT = QuietHours(start=time(21, 0), end=time(8, 0))


def policy(rule: ReminderRule, caps: Caps | None = None) -> ClinicPolicy:
    return ClinicPolicy(
        policy_id="p1",
        version=1,
        quiet_hours=NIGHT,
        default_rule=rule,
        caps=caps or Caps(per_day=24, per_week=100),
        messaging=Messaging(clinic_name="C"),
    )


def daily(start: date, end: date | None = None) -> ActivityAssigned:
    return ActivityAssigned.model_validate(
        {
            **new_envelope(),
            "clinic_id": "c1",
            "assignment_id": "a1",
            "client_ref": "cl1",
            "therapist_ref": "t1",
            "activity": Activity(kind=ActivityKind.MOOD_LOG, title="x"),
            "schedule": Schedule(timezone="UTC", start=start, end=end, frequency=Frequency.DAILY),
            "policy_id": "p1",
        }
    )


def plan(
    rule: ReminderRule, caps: Caps | None = None, days: int = 1
) -> tuple[PlannedReminder, ...]:
    item = AssignmentPlanInput("c1/a1", daily(MONDAY.date()), policy(rule, caps))
    return plan_client(ClientContext("c1/cl1"), [item], MONDAY, timedelta(days=days)).reminders


def held(rule: ReminderRule, caps: Caps, days: int) -> tuple[HeldBack, ...]:
    item = AssignmentPlanInput("c1/a1", daily(MONDAY.date()), policy(rule, caps))
    return plan_client(ClientContext("c1/cl1"), [item], MONDAY, timedelta(days=days)).held_back


def test_a_reminder_moved_by_quiet_hours_says_from_when() -> None:
    rule = ReminderRule(times_of_day=(time(7, 0), time(12, 0)), spread_minutes=0)
    moved, kept = plan(rule)
    assert moved.fire_at == datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # the end of the night
    assert moved.moved_from == datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    assert (kept.fire_at, kept.moved_from) == (datetime(2026, 5, 4, 12, 0, tzinfo=UTC), None)


def test_spreading_alone_is_not_a_move() -> None:
    rule = ReminderRule(times_of_day=(time(12, 0),), spread_minutes=30)
    (only,) = plan(rule)
    assert only.fire_at > datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # this client's offset
    assert only.moved_from is None


def test_where_a_reminder_came_from_changes_neither_its_id_nor_its_order() -> None:
    rule = ReminderRule(times_of_day=(time(7, 0),), spread_minutes=0)
    (moved,) = plan(rule)
    bare = replace(moved, moved_from=None)
    assert moved == bare
    assert hash(moved) == hash(bare)
    assert TimerMember.of(moved).reminder_id == TimerMember.of(bare).reminder_id
    assert TimerMember.of(moved).encode() == TimerMember.of(bare).encode()
    later = replace(moved, fire_at=moved.fire_at + timedelta(seconds=1), moved_from=None)
    assert sorted([later, moved]) == [moved, later]


def test_the_per_day_cap_holds_back_the_nudges_first() -> None:
    rule = ReminderRule(
        times_of_day=(time(9, 0), time(12, 0)),
        nudges=(Nudge(if_not_done_by=time(19, 0)),),
        spread_minutes=0,
    )
    held_back = held(rule, Caps(per_day=2, per_week=100), days=2)
    assert [(h.reminder.fire_at, h.reminder.purpose, h.reason) for h in held_back] == [
        (datetime(2026, 5, 4, 19, 0, tzinfo=UTC), ReminderPurpose.NUDGE, "cap_per_day"),
        (datetime(2026, 5, 5, 19, 0, tzinfo=UTC), ReminderPurpose.NUDGE, "cap_per_day"),
    ]


def test_the_per_week_cap_holds_back_the_end_of_the_week() -> None:
    rule = ReminderRule(times_of_day=(time(9, 0),), spread_minutes=0)
    held_back = held(rule, Caps(per_day=1, per_week=5), days=7)
    assert [(h.reminder.occurrence, h.reason) for h in held_back] == [
        (date(2026, 5, 9), "cap_per_week"),
        (date(2026, 5, 10), "cap_per_week"),
    ]


def test_both_caps_each_named_and_only_inside_the_horizon() -> None:
    rule = ReminderRule(times_of_day=(time(9, 0), time(12, 0)), spread_minutes=0)
    caps = Caps(per_day=1, per_week=5)
    item = AssignmentPlanInput("c1/a1", daily(MONDAY.date()), policy(rule, caps))
    result = plan_client(ClientContext("c1/cl1"), [item], MONDAY, timedelta(days=7))
    reasons = [(h.reminder.occurrence.day, h.reminder.slot, h.reason) for h in result.held_back]
    assert reasons == [
        *[(d, "1200", "cap_per_day") for d in range(4, 9)],
        (9, "0900", "cap_per_week"),
        (9, "1200", "cap_per_day"),
        (10, "0900", "cap_per_week"),
        (10, "1200", "cap_per_day"),
    ]
    assert result.capped == len(result.held_back) == 9
    assert [h.reminder for h in result.held_back] == sorted(h.reminder for h in result.held_back)
    short = plan_client(ClientContext("c1/cl1"), [item], MONDAY, timedelta(days=2))
    assert all(h.reminder.fire_at < MONDAY + timedelta(days=2) for h in short.held_back)
    assert len(short.held_back) == 2
