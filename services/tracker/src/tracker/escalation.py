"""When to alert a clinician: K consecutive missed occurrences, once per run of misses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.adherence import Adherence


@dataclass(frozen=True)
class Escalate:
    """An alert to send. ``run_started`` names the run, so it is alerted at most once."""

    consecutive_missed: int
    run_started: date
    last_missed: date


def escalation_for(adherence: Adherence, after_missed: int | None) -> Escalate | None:
    """An alert when the trailing run of misses reached the clinic's threshold.

    The run is identified by its first missed day: a later completion ends it, and a new
    run that reaches the threshold again gets a new alert. Longer runs keep the same id,
    so re-evaluating every day does not alert again.
    """
    run = adherence.missed_run
    if after_missed is None or len(run) < after_missed:
        return None
    return Escalate(consecutive_missed=len(run), run_started=run[0], last_missed=run[-1])
