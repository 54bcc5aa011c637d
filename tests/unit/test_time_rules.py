"""Quiet hours and occurrence days: pure rules both the scheduler and notifier rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import Frequency, QuietHours, Schedule
from shared.quiet_hours import end_of_quiet, is_quiet, quiet_at
from shared.recurrence import occurrence_dates

NIGHT = QuietHours(start=time(21), end=time(8))
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def test_window_spanning_midnight() -> None:
    assert is_quiet(time(22), NIGHT)
    assert is_quiet(time(7, 59), NIGHT)
    assert not is_quiet(time(8), NIGHT)
    assert not is_quiet(time(20, 59), NIGHT)


def test_daytime_window() -> None:
    lunch = QuietHours(start=time(12), end=time(13))
    assert is_quiet(time(12, 30), lunch)
    assert not is_quiet(time(13), lunch)


def test_end_of_quiet_on_spring_forward_day_is_0800_local() -> None:
    moved = end_of_quiet(datetime(2026, 3, 28, 21, 30, tzinfo=UTC), "Europe/Berlin", NIGHT)
    assert moved.astimezone(ZoneInfo("Europe/Berlin")).time() == time(8)
    assert moved == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    st.sampled_from(ZONES),
    st.integers(0, 23),
    st.integers(0, 23),
)
def test_end_of_quiet_is_never_quiet_and_never_earlier(
    naive: datetime, zone: str, start_h: int, end_h: int
) -> None:
    if start_h == end_h:
        return
    window = QuietHours(start=time(start_h), end=time(end_h))
    instant = naive.replace(tzinfo=UTC)
    moved = end_of_quiet(instant, zone, window)
    assert moved >= instant
    assert not quiet_at(moved, zone, window)
    assert moved - instant <= timedelta(hours=25)


def test_frequencies() -> None:
    start = date(2026, 11, 2)  # a Monday
    weekdays = Schedule(timezone="UTC", start=start, frequency=Frequency.WEEKDAYS)
    assert len(occurrence_dates(weekdays, start, start + timedelta(days=13))) == 10
    weekly = Schedule(timezone="UTC", start=start, frequency=Frequency.WEEKLY)
    assert occurrence_dates(weekly, start, start + timedelta(days=14)) == [
        start,
        start + timedelta(days=7),
        start + timedelta(days=14),
    ]
    once = Schedule(timezone="UTC", start=start, due=date(2026, 11, 5), frequency=Frequency.ONCE)
    assert occurrence_dates(once, start, start + timedelta(days=30)) == [date(2026, 11, 5)]


def test_rrule_count_and_schedule_end_both_cap() -> None:
    start = date(2026, 11, 2)
    counted = Schedule(timezone="UTC", start=start, rrule="FREQ=DAILY;COUNT=3")
    assert len(occurrence_dates(counted, start, start + timedelta(days=30))) == 3
    ended = Schedule(timezone="UTC", start=start, end=date(2026, 11, 4), rrule="FREQ=DAILY")
    assert occurrence_dates(ended, date(2026, 1, 1), date(2027, 1, 1))[-1] == date(2026, 11, 4)


@given(st.integers(0, 400), st.integers(0, 60))
def test_occurrences_stay_inside_the_asked_range(offset: int, span: int) -> None:
    start = date(2026, 1, 1)
    schedule = Schedule(timezone="UTC", start=start, rrule="FREQ=WEEKLY;BYDAY=MO,TH")
    first = start + timedelta(days=offset)
    days = occurrence_dates(schedule, first, first + timedelta(days=span))
    assert all(first <= d <= first + timedelta(days=span) for d in days)
    assert all(d.weekday() in (0, 3) for d in days)
    assert days == sorted(set(days))
