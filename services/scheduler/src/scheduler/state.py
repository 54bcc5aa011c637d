"""A client's planning state as kept in Redis, and the rules for applying events to it.

Pure: each ``apply_*`` returns whether anything changed (False for a stale or repeated
event), so handlers can skip the re-plan.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts import ActivityAssigned, ActivityUpdated, QuietHours
from shared.contracts.vocabulary import Channel


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class AssignmentRecord(BaseModel):
    version: int = 0
    status: Status = Status.ACTIVE
    paused_until: date | None = None
    # None until the assignment itself arrives (a lifecycle event may come first) or
    # after it is cancelled (the record stays as a tombstone for version ordering).
    assignment: ActivityAssigned | None = None
    done: list[date] = Field(default_factory=list)
    # The W3C traceparent of the assignment's handling (tracing on): its reminders fire
    # inside that trace, however much later.
    trace: str | None = None


class Prefs(BaseModel):
    version: int = 0
    timezone: str | None = None
    quiet_hours: QuietHours | None = None
    opted_out: bool = False
    consent: dict[Channel, bool] = Field(default_factory=dict)


class ClientState(BaseModel):
    client_key: str
    rev: int = 0
    prefs: Prefs | None = None
    assignments: dict[str, AssignmentRecord] = Field(default_factory=dict)
    timers: list[str] = Field(default_factory=list)
    # Epoch seconds of the reminders that came due (sent, or committed to be sent), so the
    # caps count them even after a completion, cancellation or policy change removed
    # their slots from the plan. Kept for SENT_KEPT: a local ISO week and a day of offsets.
    sent: list[int] = Field(default_factory=list)
    # The id of the input event committed last. It is marked seen only once its plan is
    # announced, so a redelivery that finds it here announces the plan again.
    last_event: str | None = None

    def sent_at(self) -> tuple[datetime, ...]:
        return tuple(datetime.fromtimestamp(t, UTC) for t in self.sent)

    def record(self, key: str) -> AssignmentRecord:
        return self.assignments.setdefault(key, AssignmentRecord())

    def reachable(self, channels: set[Channel]) -> bool:
        """False when the client opted out of every channel the clinic would use."""
        if self.prefs is None:
            return True  # nothing known yet: the notifier checks consent at send time
        if self.prefs.opted_out:
            return False
        return any(self.prefs.consent.get(ch, False) for ch in channels)


SENT_KEPT = timedelta(days=8)


def note_due_timers(state: ClientState, now: datetime) -> None:
    """Move the last plan's timers that have come due into ``sent``; forget old entries.

    The plan about to replace them keeps only reminders at or after ``now``, so this is
    the one moment the client's state still knows what went out since the last plan."""
    now_ms = now.timestamp() * 1000  # not rounded: exactly the plan's ``fire_at < now``
    scores = (int(m.rsplit("|", 1)[1]) for m in state.timers)  # a member ends "|<ms>"
    came_due = [ms // 1000 for ms in scores if ms < now_ms]
    oldest = int((now - SENT_KEPT).timestamp())
    state.sent = sorted(t for t in (*state.sent, *came_due) if t >= oldest)


def as_assigned(event: ActivityAssigned | ActivityUpdated) -> ActivityAssigned:
    """Updates carry the full assignment; the planner reads one shape."""
    if isinstance(event, ActivityAssigned):
        return event
    return ActivityAssigned.model_validate({**event.model_dump(), "type": "activity.assigned"})


def apply_assignment(
    state: ClientState, key: str, event: ActivityAssigned, trace: str | None = None
) -> bool:
    rec = state.record(key)
    if event.version <= rec.version:
        if rec.assignment is None and rec.status is not Status.CANCELLED:
            rec.assignment, rec.trace = event, trace  # a lifecycle event overtook it
            return True
        return False
    rec.version, rec.assignment, rec.trace = event.version, event, trace
    rec.status, rec.paused_until = Status.ACTIVE, None
    return True


def apply_lifecycle(
    state: ClientState, key: str, version: int, status: Status, until: date | None = None
) -> bool:
    rec = state.record(key)
    if version < rec.version or rec.status is Status.CANCELLED:
        return False  # cancelled is final; older events lose to newer ones
    if version == rec.version and rec.status is status and rec.paused_until == until:
        return False
    rec.version, rec.status, rec.paused_until = version, status, until
    if status is Status.CANCELLED:
        rec.assignment, rec.done = None, []
    return True


def apply_completion(state: ClientState, key: str, day: date, today: date) -> bool:
    rec = state.record(key)
    if day in rec.done or rec.status is Status.CANCELLED:
        return False
    # Only recent days matter to planning; older ones would only grow the record.
    rec.done = sorted(d for d in {*rec.done, day} if d >= today - timedelta(days=14))
    return True


def apply_prefs(state: ClientState, prefs: Prefs) -> bool:
    if state.prefs is not None and prefs.version <= state.prefs.version:
        return False
    state.prefs = prefs
    return True


def apply_consent(state: ClientState, channel: Channel, opted_out: bool) -> bool:
    prefs = state.prefs or Prefs(consent={c: True for c in Channel})
    if prefs.consent.get(channel) is (not opted_out) and state.prefs is not None:
        return False
    state.prefs = prefs.model_copy(update={"consent": {**prefs.consent, channel: not opted_out}})
    return True
