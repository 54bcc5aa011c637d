"""Caps: at most N reminders a local day and M a local (ISO) week per client, across all
of the client's activities.

Which reminders survive is decided over whole weeks of candidates, so the choice made
on Monday is the same one made again on Thursday (a rolling horizon cut mid-week would
otherwise pick differently on each re-plan). Order of preference: time-of-day
reminders, then lead-time reminders, then conditional nudges; earlier before later;
then by assignment key. Capped candidates are not planned; the planner counts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from zoneinfo import ZoneInfo

from scheduler.planning.model import PlannedReminder
from shared.contracts import Caps
from shared.contracts.vocabulary import ReminderPurpose

_RANK = {ReminderPurpose.REMINDER: 0, ReminderPurpose.LEAD: 1, ReminderPurpose.NUDGE: 2}


def _preference(r: PlannedReminder) -> tuple[int, object, str, str]:
    return (_RANK.get(r.purpose, 3), r.fire_at, r.key, r.slot)


def apply_caps(
    candidates: Iterable[PlannedReminder], caps: Caps, timezone: str
) -> tuple[list[PlannedReminder], list[PlannedReminder]]:
    """(kept, capped) under the per-day cap, then the per-week cap."""
    tz = ZoneInfo(timezone)
    by_day: dict[date, list[PlannedReminder]] = defaultdict(list)
    for r in candidates:
        by_day[r.fire_at.astimezone(tz).date()].append(r)
    kept: list[PlannedReminder] = []
    capped: list[PlannedReminder] = []
    for items in by_day.values():
        items.sort(key=_preference)
        kept.extend(items[: caps.per_day])
        capped.extend(items[caps.per_day :])
    by_week: dict[tuple[int, int], list[PlannedReminder]] = defaultdict(list)
    for r in kept:
        iso = r.fire_at.astimezone(tz).isocalendar()
        by_week[(iso.year, iso.week)].append(r)
    final: list[PlannedReminder] = []
    for items in by_week.values():
        items.sort(key=_preference)
        final.extend(items[: caps.per_week])
        capped.extend(items[caps.per_week :])
    return sorted(final), capped
