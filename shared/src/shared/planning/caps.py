"""Caps: at most N reminders a local day and M a local (ISO) week per client, across all
of the client's activities.

What was already sent takes its share of each day and week first; the remaining
candidates fill what is left, in order of preference: time-of-day reminders, then
lead-time reminders, then conditional nudges; earlier before later; then by assignment
key. Candidates run to the end of the horizon's last week, so a re-plan with the same
inputs on Thursday keeps what Monday's plan kept (the top of one fixed order, minus what
has gone out since). Capped candidates are not planned; the planner reports them, each
with the cap that dropped it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.contracts import Caps
from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.model import PlannedReminder

_RANK = {ReminderPurpose.REMINDER: 0, ReminderPurpose.LEAD: 1, ReminderPurpose.NUDGE: 2}


def _preference(r: PlannedReminder) -> tuple[int, object, str, str]:
    return (_RANK.get(r.purpose, 3), r.fire_at, r.key, r.slot)


def _week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return (iso.year, iso.week)


def apply_caps(
    candidates: Iterable[PlannedReminder],
    caps: Caps,
    timezone: str,
    sent: Iterable[datetime] = (),
) -> tuple[list[PlannedReminder], list[PlannedReminder], list[PlannedReminder]]:
    """(kept, over the per-day cap, over the per-week cap): the per-day cap first, then
    the per-week cap, each less what was ``sent`` on that local day or local ISO week."""
    tz = ZoneInfo(timezone)
    sent_days = [t.astimezone(tz).date() for t in sent]
    sent_per_day = Counter(sent_days)
    sent_per_week = Counter(_week(d) for d in sent_days)
    by_day: dict[date, list[PlannedReminder]] = defaultdict(list)
    for r in candidates:
        by_day[r.fire_at.astimezone(tz).date()].append(r)
    kept: list[PlannedReminder] = []
    over_day: list[PlannedReminder] = []
    for day, items in by_day.items():
        items.sort(key=_preference)
        room = max(caps.per_day - sent_per_day[day], 0)
        kept.extend(items[:room])
        over_day.extend(items[room:])
    by_week: dict[tuple[int, int], list[PlannedReminder]] = defaultdict(list)
    for r in kept:
        by_week[_week(r.fire_at.astimezone(tz).date())].append(r)
    final: list[PlannedReminder] = []
    over_week: list[PlannedReminder] = []
    for week, items in by_week.items():
        items.sort(key=_preference)
        room = max(caps.per_week - sent_per_week[week], 0)
        final.extend(items[:room])
        over_week.extend(items[room:])
    return sorted(final), over_day, over_week
