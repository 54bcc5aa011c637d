"""Adherence as counts, rates and streaks: never a pass or a fail.

Pure functions over an assignment's schedule, its paused/cancelled periods and its
recorded completions. Occurrences are local calendar days in the client's time zone.
An occurrence is *due* once its day has passed, or on its day once it is done: an
activity still open today is neither done nor missed yet, so it does not lower the rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.contracts import Schedule
from shared.recurrence import occurrence_dates


@dataclass(frozen=True)
class Pause:
    """Days on which nothing is due: from ``start`` up to ``end`` inclusive (open if None)."""

    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Completion:
    occurrence_date: date
    rating: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Adherence:
    due: int
    done: int
    missed: int
    rate: float | None
    current_streak: int
    longest_streak: int
    ratings: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    missed_run: tuple[date, ...] = field(default=())  # the trailing run of missed days

    @property
    def consecutive_missed(self) -> int:
        return len(self.missed_run)


def due_days(
    schedule: Schedule,
    first: date,
    last: date,
    *,
    today: date,
    pauses: Iterable[Pause] = (),
    cancelled_on: date | None = None,
    done: Iterable[date] = (),
) -> list[date]:
    """Occurrence days in [first, last] that count as due (see the module docstring)."""
    pauses = tuple(pauses)
    done_set = set(done)
    last = min(last, today)
    if cancelled_on is not None:
        last = min(last, cancelled_on - timedelta(days=1))
    if last < first:
        return []
    return [
        d
        for d in occurrence_dates(schedule, first, last)
        if not any(p.covers(d) for p in pauses) and (d < today or d in done_set)
    ]


def compute(days: list[date], completions: Mapping[date, Completion]) -> Adherence:
    """Counts and streaks for due ``days`` (in order) given the completions recorded."""
    done_flags = [d in completions for d in days]
    done = sum(done_flags)
    longest = run = 0
    for flag in done_flags:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    missed_run: list[date] = []
    for day, flag in zip(reversed(days), reversed(done_flags), strict=True):
        if flag:
            break
        missed_run.append(day)
    in_period = [completions[d] for d in days if d in completions]
    return Adherence(
        due=len(days),
        done=done,
        missed=len(days) - done,
        rate=round(done / len(days), 4) if days else None,
        current_streak=run,
        longest_streak=longest,
        ratings=tuple(c.rating for c in in_period if c.rating is not None),
        notes=tuple(c.note for c in in_period if c.note),
        missed_run=tuple(reversed(missed_run)),
    )


def combine(parts: Iterable[Adherence]) -> tuple[int, int, float | None]:
    """A client's total (due, done, rate) over several assignments."""
    parts = list(parts)
    due = sum(p.due for p in parts)
    done = sum(p.done for p in parts)
    return due, done, (round(done / due, 4) if due else None)
