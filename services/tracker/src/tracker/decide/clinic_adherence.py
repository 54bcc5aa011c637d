"""Adherence for clinicians (pure): a clinic's clients over one week, and a client's
calendar of days. Counts, rates and streaks from ``tracker.adherence``, the alert rule
from ``tracker.decide.escalation``: never a pass or a fail, never a second count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from shared.contracts import ClinicPolicy
from shared.recurrence import occurrence_dates
from tracker.adherence import Adherence, Completion, combine, compute, due_days
from tracker.decide.assignments import local_today
from tracker.decide.escalation import alert
from tracker.decide.summary import LOOKBACK_DAYS
from tracker.records import AssignmentRecord

Completions = Mapping[date, Completion]
# A calendar day of one activity.
DONE, MISSED, NOT_DUE, PAUSED, UPCOMING = "done", "missed", "not_due", "paused", "upcoming"


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def activity_week(
    record: AssignmentRecord,
    completions: Completions,
    policy: ClinicPolicy | None,
    monday: date,
    now: datetime,
) -> dict[str, Any] | None:
    """One assignment's week (from ``monday``): due, done, missed, rate; its current
    streak; and whether its misses call for the clinician (the sweep's own rule)."""
    found = _activity_week(record, completions, policy, monday, now)
    return found[0] if found else None


def _activity_week(
    record: AssignmentRecord,
    completions: Completions,
    policy: ClinicPolicy | None,
    monday: date,
    now: datetime,
) -> tuple[dict[str, Any], Adherence] | None:
    if record.schedule is None:
        return None
    week = compute(_due(record, completions, monday, monday + timedelta(days=6), now), completions)
    if week.due == 0 and record.status == "cancelled":
        return None
    streak = compute(_due(record, completions, None, None, now), completions)
    found = alert(record, completions, policy, now)
    row = {
        "assignment_id": record.assignment_id,
        "activity_kind": record.activity_kind,
        "status": record.status,
        **_counts(week),
        "current_streak": streak.current_streak,
        "escalated": found is not None,
        "consecutive_missed": found.event.consecutive_missed if found else 0,
    }
    return row, week


def client_week(
    client_ref: str,
    records: Iterable[AssignmentRecord],
    completions: Mapping[str, Completions],
    policies: Mapping[str | None, ClinicPolicy | None],
    *,
    monday: date,
    now: datetime,
) -> dict[str, Any] | None:
    """A client's row: per activity and overall; None without any activity that week."""
    rows: list[dict[str, Any]] = []
    weeks: list[Adherence] = []
    streak_days: dict[date, bool] = {}
    for record in records:
        done = completions.get(record.assignment_id, {})
        found = _activity_week(record, done, policies.get(record.policy_id), monday, now)
        if found is None:
            continue
        rows.append(found[0])
        weeks.append(found[1])
        for day in _due(record, done, None, None, now):
            streak_days[day] = streak_days.get(day, True) and day in done
    if not rows:
        return None
    due, done_count, rate = combine(weeks)
    every_done = {d: Completion(d) for d, ok in streak_days.items() if ok}
    overall = compute(sorted(streak_days), every_done)
    rows.sort(key=lambda r: (not r["escalated"], r["activity_kind"], r["assignment_id"]))
    return {
        "client_ref": client_ref,
        "due": due,
        "done": done_count,
        "missed": due - done_count,
        "rate": rate,
        # Days in a row, up to the latest due day, on which everything due was done.
        "current_streak": overall.current_streak,
        "escalated": any(r["escalated"] for r in rows),
        "consecutive_missed": max(r["consecutive_missed"] for r in rows),
        "activities": rows,
    }


def by_attention(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Escalated clients first (longest run of misses first), then by client."""
    return sorted(
        rows, key=lambda r: (not r["escalated"], -r["consecutive_missed"], r["client_ref"])
    )


def calendar(
    record: AssignmentRecord, completions: Completions, first: date, last: date, now: datetime
) -> list[dict[str, str]]:
    """Each day from ``first`` to ``last``: done, missed, not due, paused or upcoming (an
    occurrence still open: today's, or a later day's)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if record.schedule is None:
        return [{"date": d.isoformat(), "state": NOT_DUE} for d in days]
    occurs = set(occurrence_dates(record.schedule, first, last))
    due = set(_due(record, completions, first, last, now))
    pauses = record.pause_list()
    cancelled = record.cancelled_on

    def state(day: date) -> str:
        if day in due:
            return DONE if day in completions else MISSED
        if day not in occurs or (cancelled is not None and day >= cancelled):
            return NOT_DUE
        return PAUSED if any(p.covers(day) for p in pauses) else UPCOMING

    return [{"date": d.isoformat(), "state": state(d)} for d in days]


def calendar_counts(cells: Iterable[Mapping[str, str]]) -> dict[str, int]:
    counts = dict.fromkeys((DONE, MISSED, PAUSED, UPCOMING, NOT_DUE), 0)
    for cell in cells:
        counts[cell["state"]] += 1
    return counts


def _due(
    record: AssignmentRecord,
    completions: Completions,
    first: date | None,
    last: date | None,
    now: datetime,
) -> list[date]:
    """Due days (as ``tracker.adherence`` counts them) in [first, last]; without bounds,
    the lookback an alert looks at, up to the client's today."""
    assert record.schedule is not None
    today = local_today(now, record.schedule.timezone)
    lo = first or max(record.schedule.start, today - timedelta(LOOKBACK_DAYS))
    return due_days(
        record.schedule,
        lo,
        last or today,
        today=today,
        pauses=record.pause_list(),
        cancelled_on=record.cancelled_on,
        done=completions.keys(),
    )


def _counts(result: Adherence) -> dict[str, Any]:
    return {"due": result.due, "done": result.done, "missed": result.missed, "rate": result.rate}
