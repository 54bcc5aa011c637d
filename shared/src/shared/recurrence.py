"""Which local days an assignment is due on. Pure: used by the scheduler to plan and by
the tracker to count occurrences due for adherence.

Occurrences are calendar days in the client's time zone. An RRULE is evaluated from
the schedule's start; its COUNT and UNTIL apply, and the schedule's end/due cap it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrulestr

from shared.contracts.ehr import Schedule
from shared.contracts.vocabulary import Frequency

MAX_OCCURRENCES = 3660


def last_day(schedule: Schedule) -> date | None:
    if schedule.frequency is Frequency.ONCE:
        return schedule.due or schedule.start
    candidates = [d for d in (schedule.end, schedule.due) if d is not None]
    return min(candidates) if candidates else None


def occurrence_dates(schedule: Schedule, first: date, last: date) -> list[date]:
    """Due days between ``first`` and ``last`` inclusive, in order."""
    lo = max(first, schedule.start)
    end = last_day(schedule)
    hi = min(last, end) if end else last
    if hi < lo:
        return []
    if schedule.rrule:
        rule = rrulestr(schedule.rrule, dtstart=datetime.combine(schedule.start, time()))
        hits = rule.between(datetime.combine(lo, time()), datetime.combine(hi, time.max), inc=True)
        return sorted({h.date() for h in hits})[:MAX_OCCURRENCES]
    return [d for d in _days(lo, hi) if _due_on(schedule, d)][:MAX_OCCURRENCES]


def _days(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range(min((hi - lo).days + 1, MAX_OCCURRENCES * 7))]


def _due_on(schedule: Schedule, day: date) -> bool:
    match schedule.frequency:
        case Frequency.DAILY:
            return True
        case Frequency.WEEKDAYS:
            return day.weekday() < 5
        case Frequency.WEEKLY:
            return day.weekday() == schedule.start.weekday()
        case Frequency.ONCE:
            return day == (schedule.due or schedule.start)
        case _:
            return False
