"""Adherence counts, streaks and escalation (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import Schedule
from tracker.adherence import Completion, Pause, compute, due_days
from tracker.escalation import escalation_for

DAILY = Schedule(timezone="Europe/Berlin", start=date(2026, 11, 1), frequency="daily")
TODAY = date(2026, 11, 8)


def done(*days: int) -> dict[date, Completion]:
    return {date(2026, 11, d): Completion(date(2026, 11, d)) for d in days}


def test_six_of_seven_days_is_a_rate_not_a_verdict() -> None:
    completions = done(1, 2, 3, 5, 6, 7)
    days = due_days(DAILY, date(2026, 11, 1), TODAY, today=TODAY, done=completions)
    result = compute(days, completions)
    assert (result.due, result.done, result.missed) == (7, 6, 1)
    assert result.rate == round(6 / 7, 4)
    assert (result.current_streak, result.longest_streak) == (3, 3)


def test_today_counts_only_once_it_is_done() -> None:
    assert len(due_days(DAILY, date(2026, 11, 1), TODAY, today=TODAY)) == 7
    assert len(due_days(DAILY, date(2026, 11, 1), TODAY, today=TODAY, done=[TODAY])) == 8


def test_paused_and_cancelled_days_are_not_due() -> None:
    pause = Pause(date(2026, 11, 3), date(2026, 11, 4))
    days = due_days(
        DAILY,
        date(2026, 11, 1),
        TODAY,
        today=TODAY,
        pauses=[pause],
        cancelled_on=date(2026, 11, 7),
    )
    assert days == [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 5), date(2026, 11, 6)]


def test_ratings_and_notes_are_reported() -> None:
    completions = {date(2026, 11, 2): Completion(date(2026, 11, 2), 7, "went for a walk")}
    days = due_days(DAILY, date(2026, 11, 1), TODAY, today=TODAY, done=completions)
    result = compute(days, completions)
    assert result.ratings == (7,)
    assert result.notes == ("went for a walk",)


def test_escalation_after_k_consecutive_misses_names_the_run() -> None:
    days = due_days(DAILY, date(2026, 11, 1), TODAY, today=TODAY)
    result = compute(days, done(1, 2, 3, 4))
    alert = escalation_for(result, 3)
    assert alert is not None
    assert (alert.consecutive_missed, alert.run_started, alert.last_missed) == (
        3,
        date(2026, 11, 5),
        date(2026, 11, 7),
    )
    assert escalation_for(result, 4) is None
    assert escalation_for(result, None) is None
    # The run grows by a day: same run, same identity (so it is alerted once).
    longer = compute(
        due_days(DAILY, date(2026, 11, 1), TODAY + timedelta(1), today=TODAY + timedelta(1)),
        done(1, 2, 3, 4),
    )
    again = escalation_for(longer, 3)
    assert again is not None
    assert again.run_started == alert.run_started


@given(st.sets(st.integers(min_value=1, max_value=30)), st.integers(min_value=1, max_value=30))
def test_counts_add_up(done_days: set[int], today_day: int) -> None:
    today = date(2026, 11, today_day)
    completions = done(*[d for d in done_days if d <= today_day])
    days = due_days(DAILY, date(2026, 11, 1), today, today=today, done=completions)
    result = compute(days, completions)
    assert result.done + result.missed == result.due
    assert result.current_streak <= result.longest_streak <= result.done
    if result.due == 0:
        assert result.rate is None
    else:
        assert result.rate is not None
        assert 0 <= result.rate <= 1
    assert result.consecutive_missed <= result.missed
