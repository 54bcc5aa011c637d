"""Adherence of an assignment, and a client's summary before a session (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from shared.contracts import AdherenceSummary, AssignmentAdherence, SessionUpcoming
from tracker.adherence import Adherence, Completion, combine, compute, due_days
from tracker.decide.assignments import local_today
from tracker.records import AssignmentRecord

LOOKBACK_DAYS = 120  # how far back a run of misses is looked for, without a period


def adherence(
    record: AssignmentRecord,
    completions: Mapping[date, Completion],
    first: date | None,
    now: datetime,
) -> Adherence | None:
    """Counts from ``first`` (or the schedule's start, at most LOOKBACK_DAYS back) to
    the client's today; None for a record whose schedule is not known yet."""
    if record.schedule is None:
        return None
    today = local_today(now, record.schedule.timezone)
    start = first or max(record.schedule.start, today - timedelta(LOOKBACK_DAYS))
    days = due_days(
        record.schedule,
        start,
        today,
        today=today,
        pauses=record.pause_list(),
        cancelled_on=record.cancelled_on,
        done=completions.keys(),
    )
    return compute(days, completions)


def summary(
    event: SessionUpcoming,
    records: list[AssignmentRecord],
    completions: Mapping[str, Mapping[date, Completion]],
    now: datetime,
    default_days: int,
) -> AdherenceSummary:
    """What was done since the previous session (or ``default_days``): counts and rates,
    per assignment and in total; a cancelled assignment with nothing due is left out."""
    period_start = event.previous_session_at or now - timedelta(days=default_days)
    parts: list[AssignmentAdherence] = []
    totals: list[Adherence] = []
    for record in records:
        if record.schedule is None:
            continue
        first = local_today(period_start, record.schedule.timezone)
        result = adherence(record, completions.get(record.assignment_id, {}), first, now)
        if result is None or (result.due == 0 and record.status == "cancelled"):
            continue
        totals.append(result)
        parts.append(_part(record, result))
    due, done, rate = combine(totals)
    return AdherenceSummary(
        **event.caused(),
        session_id=event.session_id,
        client_ref=event.client_ref,
        therapist_ref=event.therapist_ref,
        period_start=period_start,
        period_end=now,
        assignments=tuple(parts),
        due=due,
        done=done,
        rate=rate,
    )


def _part(record: AssignmentRecord, result: Adherence) -> AssignmentAdherence:
    return AssignmentAdherence(
        assignment_id=record.assignment_id,
        activity_kind=record.activity_kind,
        due=result.due,
        done=result.done,
        missed=result.missed,
        rate=result.rate,
        current_streak=result.current_streak,
        longest_streak=result.longest_streak,
        ratings=result.ratings,
        notes=result.notes,
    )
