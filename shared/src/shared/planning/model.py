"""What the planner reads and what it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from shared.contracts import ActivityAssigned, ClinicPolicy, QuietHours
from shared.contracts.vocabulary import ReminderPurpose


@dataclass(frozen=True)
class AssignmentPlanInput:
    """One live assignment of a client, with the policy it points at."""

    key: str  # "<clinic_id>/<assignment_id>": assignment ids are only unique per clinic
    assignment: ActivityAssigned  # the latest version (updates are normalised to this shape)
    policy: ClinicPolicy
    done: frozenset[date] = frozenset()
    paused: bool = False
    paused_until: date | None = None  # with ``paused``: occurrences up to this day are skipped


@dataclass(frozen=True)
class ClientContext:
    """What the client told us: where they are, when not to disturb them."""

    client_key: str
    timezone: str | None = None
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True, order=True)
class PlannedReminder:
    fire_at: datetime  # UTC, after spreading and quiet hours
    key: str
    occurrence: date
    purpose: ReminderPurpose
    slot: str  # the local slot it came from ("0900", "L1-1800", "N2000"); part of the id
    # The instant quiet hours moved it from (spread included); None if not moved. Not a
    # part of its identity: equality, order and ids are what they were without it.
    moved_from: datetime | None = field(default=None, compare=False)


CapReason = Literal["cap_per_day", "cap_per_week"]


@dataclass(frozen=True)
class HeldBack:
    """A candidate the client's caps dropped, and which cap dropped it."""

    reminder: PlannedReminder
    reason: CapReason


@dataclass(frozen=True)
class Plan:
    reminders: tuple[PlannedReminder, ...]
    horizon_end: datetime | None = None
    # Candidates in the horizon not planned because of the caps, earliest first.
    held_back: tuple[HeldBack, ...] = ()

    @property
    def capped(self) -> int:
        return len(self.held_back)
