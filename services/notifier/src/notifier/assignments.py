"""What the notifier must know about an assignment at send time, and the rules (pure).

The scheduler removes timers when an assignment is completed, cancelled or paused, but a
``reminder.due`` may already be on its way: in the queue, deferred by quiet hours,
waiting for a rate-limit token or in a retry tier. So the notifier keeps, per clinic and
assignment, the lifecycle status with its version and the days done, and asks
``stop_reason`` when a reminder is handled and again right before the provider call.

The rules mirror the scheduler's (``scheduler/state.py``): a lifecycle event older than
the stored version is ignored; a cancel stops reminders planned for that version or an
older one (a newer version of the assignment is a new assignment); a pause stops them
for the days it covers; a day done stops everything for it but an encouragement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from shared.contracts import ReminderPurpose, SuppressionReason

# Days done are kept this long (and at most this many): reminders are only ever held
# for hours, the retry tiers and dedupe window are far shorter than this.
DONE_RETENTION_DAYS = 35


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class AssignmentState:
    version: int = 0
    status: Status = Status.ACTIVE
    paused_until: date | None = None  # the last paused day; None: until resumed
    done: tuple[date, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "status": self.status.value,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
            "done": [d.isoformat() for d in self.done],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AssignmentState:
        until, done = data.get("paused_until"), data.get("done")
        return cls(
            version=int(str(data.get("version", 0))),
            status=Status(str(data.get("status", Status.ACTIVE.value))),
            paused_until=date.fromisoformat(until) if isinstance(until, str) else None,
            done=tuple(date.fromisoformat(str(d)) for d in done) if isinstance(done, list) else (),
        )


# A pure change to a record: the new state, or None when nothing changes.
Change = Callable[[AssignmentState], AssignmentState | None]


def apply_lifecycle(
    state: AssignmentState, version: int, status: Status, until: date | None = None
) -> AssignmentState | None:
    """The state after a cancel, pause or resume of ``version``; None if nothing changes
    (an older event, a repeat, or anything but a newer version after a cancel)."""
    if version < state.version:
        return None
    if version == state.version and state.status is Status.CANCELLED:
        return None  # cancelled is final for its version
    if (version, status, until) == (state.version, state.status, state.paused_until):
        return None
    paused_until = until if status is Status.PAUSED else None
    return replace(state, version=version, status=status, paused_until=paused_until)


def apply_completion(state: AssignmentState, day: date, today: date) -> AssignmentState | None:
    """The state with ``day`` done; None if it already was. Old days are let go."""
    if day in state.done:
        return None
    oldest = today - timedelta(days=DONE_RETENTION_DAYS)
    days = sorted(d for d in {*state.done, day} if d >= oldest)
    return replace(state, done=tuple(days[-DONE_RETENTION_DAYS * 2 :]))


def stop_reason(
    state: AssignmentState | None,
    assignment_version: int,
    occurrence: date,
    purpose: ReminderPurpose,
) -> SuppressionReason | None:
    """Why a reminder planned for ``assignment_version`` and day ``occurrence`` must not
    be sent now, or None."""
    if state is None:
        return None
    covered = assignment_version <= state.version
    if state.status is Status.CANCELLED and covered:
        return SuppressionReason.CANCELLED
    in_pause = state.paused_until is None or occurrence <= state.paused_until
    if state.status is Status.PAUSED and covered and in_pause:
        return SuppressionReason.PAUSED
    if occurrence in state.done and purpose is not ReminderPurpose.ENCOURAGEMENT:
        return SuppressionReason.COMPLETED
    return None
