"""The effective reminder rule of one assignment: policy defaults, then its overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from shared.contracts import ActivityAssigned, ClinicPolicy, QuietHours
from shared.contracts.policy import LeadTime, Nudge
from shared.contracts.vocabulary import Channel
from shared.recurrence import occurrence_dates


@dataclass(frozen=True)
class EffectiveRule:
    times_of_day: tuple[time, ...]
    lead_times: tuple[LeadTime, ...]
    nudges: tuple[Nudge, ...]
    spread_minutes: int
    channels: tuple[Channel, ...]
    quiet_hours: QuietHours


def effective_rule(
    assignment: ActivityAssigned, policy: ClinicPolicy, client_quiet: QuietHours | None
) -> EffectiveRule:
    """Precedence: the assignment's overrides, then its schedule's times, then the policy's
    rule for the activity kind (or its default rule). Quiet hours: the assignment's
    override, then the client's own, then the clinic's."""
    rule = policy.rule_for(assignment.activity.kind)
    o = assignment.overrides
    times = rule.times_of_day
    if assignment.schedule.times_of_day:
        times = assignment.schedule.times_of_day
    if o and o.times_of_day is not None:
        times = o.times_of_day
    return EffectiveRule(
        times_of_day=tuple(sorted(set(times))),
        lead_times=o.lead_times if o and o.lead_times is not None else rule.lead_times,
        nudges=o.nudges if o and o.nudges is not None else rule.nudges,
        spread_minutes=(
            o.spread_minutes if o and o.spread_minutes is not None else rule.spread_minutes
        ),
        channels=o.channels if o and o.channels else policy.channels,
        quiet_hours=(o.quiet_hours if o and o.quiet_hours else None)
        or client_quiet
        or policy.quiet_hours,
    )


def last_allowed_day(assignment: ActivityAssigned, policy: ClinicPolicy) -> date | None:
    """The clinic's end conditions as a last occurrence day (None: open-ended)."""
    schedule = assignment.schedule
    limits: list[date] = []
    if policy.end.stop_after_days is not None:
        limits.append(schedule.start + timedelta(days=policy.end.stop_after_days - 1))
    if policy.end.max_occurrences is not None:
        far = schedule.start + timedelta(days=3660 * 7)
        days = occurrence_dates(schedule, schedule.start, far)[: policy.end.max_occurrences]
        if days:
            limits.append(days[-1])
    return min(limits) if limits else None


def never_occurs(assignment: ActivityAssigned, policy: ClinicPolicy) -> bool:
    """True for a schedule with no occurrence (e.g. an RRULE that never matches between
    start and end). Looks at most four years ahead, which covers every leap-day rule."""
    schedule = assignment.schedule
    last = last_allowed_day(assignment, policy)
    window = schedule.start + timedelta(days=4 * 366 if schedule.rrule else 7)
    return not occurrence_dates(schedule, schedule.start, min(last, window) if last else window)
