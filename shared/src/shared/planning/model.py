"""What the planner reads and what it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

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


@dataclass(frozen=True)
class Plan:
    reminders: tuple[PlannedReminder, ...]
    capped: int = 0  # candidates in the horizon not planned because of the caps
    horizon_end: datetime | None = None
    capped_ids: tuple[str, ...] = field(default=())
