"""Plan a client's reminders over a rolling horizon.

A client is the unit of planning because caps apply across all of a client's
activities. Candidates from ``now`` to the end of the horizon's last local week are
capped (see ``caps``) after counting what was already sent, then only those in
``[now, now + horizon)`` are kept; the plan names those the caps held back in that
window, with the cap that did, and each reminder quiet hours moved, with where from.

Slots before ``now`` never compete for the caps: what went out is known (``sent``), and
a slot's presence in today's candidates says nothing about it. Counting candidates
instead let a completion drop a day's slots that had already been sent, freeing the cap
for a reminder it had held back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts import Caps
from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.caps import apply_caps
from shared.planning.local_time import local_instant, outside_quiet, spread_offset
from shared.planning.model import (
    AssignmentPlanInput,
    ClientContext,
    HeldBack,
    Plan,
    PlannedReminder,
)
from shared.planning.rules import EffectiveRule, effective_rule, last_allowed_day
from shared.recurrence import occurrence_dates

MAX_LEAD_DAYS = 30


def plan_client(
    client: ClientContext,
    assignments: list[AssignmentPlanInput],
    now: datetime,
    horizon: timedelta,
    sent: Sequence[datetime] = (),
) -> Plan:
    """``sent``: when the client's reminders went out (or came due) before ``now``."""
    if not assignments:
        return Plan(reminders=(), horizon_end=now + horizon)
    timezone = client.timezone or assignments[0].assignment.schedule.timezone
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    # Earlier occurrences fire before now; quiet hours and spreading move a slot by less
    # than a day, so one of yesterday's may still fire today.
    first = today - timedelta(days=2)
    end_day = (now + horizon).astimezone(tz).date()
    last = end_day + timedelta(days=6 - end_day.weekday())  # Sunday of the last week
    candidates = [
        r
        for a in assignments
        for r in _candidates(a, client, timezone, first, last)
        if r.fire_at >= now and r.fire_at.astimezone(tz).date() <= last
    ]
    caps = _tightest_caps(assignments)
    kept, over_day, over_week = apply_caps(candidates, caps, timezone, sent)
    horizon_end = now + horizon
    window = tuple(r for r in kept if now <= r.fire_at < horizon_end)
    held = [HeldBack(r, "cap_per_day") for r in over_day if r.fire_at < horizon_end]
    held += [HeldBack(r, "cap_per_week") for r in over_week if r.fire_at < horizon_end]
    held.sort(key=lambda h: h.reminder)
    return Plan(reminders=window, horizon_end=horizon_end, held_back=tuple(held))


def _tightest_caps(assignments: list[AssignmentPlanInput]) -> Caps:
    """A client under several policies gets the strictest caps of them all."""
    return Caps(
        per_day=min(a.policy.caps.per_day for a in assignments),
        per_week=min(a.policy.caps.per_week for a in assignments),
    )


def _candidates(
    a: AssignmentPlanInput, client: ClientContext, timezone: str, first: date, last: date
) -> Iterator[PlannedReminder]:
    if a.paused and a.paused_until is None:
        return
    rule = effective_rule(a.assignment, a.policy, client.quiet_hours)
    end = last_allowed_day(a.assignment, a.policy)
    # Occurrences after ``last`` matter only for their lead reminders: look only as far
    # ahead as this rule's longest lead (most rules have none, and this loop dominates).
    lead = max((lt.days_before for lt in rule.lead_times), default=0)
    hi = last + timedelta(days=min(lead, MAX_LEAD_DAYS))
    hi = min(hi, end) if end else hi
    for day in occurrence_dates(a.assignment.schedule, first, hi):
        if day in a.done or (a.paused and a.paused_until and day <= a.paused_until):
            continue
        yield from _for_occurrence(a, client, rule, timezone, day)


def _for_occurrence(
    a: AssignmentPlanInput, client: ClientContext, rule: EffectiveRule, timezone: str, day: date
) -> Iterator[PlannedReminder]:
    slots: list[tuple[ReminderPurpose, date, time, str]] = [
        (ReminderPurpose.REMINDER, day, t, t.strftime("%H%M")) for t in rule.times_of_day
    ]
    slots += [
        (
            ReminderPurpose.LEAD,
            day - timedelta(days=lt.days_before),
            lt.at,
            f"L{lt.days_before}-{lt.at.strftime('%H%M')}",
        )
        for lt in rule.lead_times
    ]
    slots += [
        (ReminderPurpose.NUDGE, day, n.if_not_done_by, f"N{n.if_not_done_by.strftime('%H%M')}")
        for n in rule.nudges
    ]
    for purpose, on, at, slot in slots:
        offset = spread_offset(client.client_key, slot, rule.spread_minutes)
        instant = local_instant(on, at, timezone) + offset
        fire_at = outside_quiet(instant, timezone, rule.quiet_hours, offset)
        moved_from = instant if fire_at != instant else None
        yield PlannedReminder(fire_at, a.key, day, purpose, slot, moved_from)
