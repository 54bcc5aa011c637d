"""What the tracker keeps about an assignment (a plain record, stored as JSON)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from shared.contracts import Schedule
from tracker.adherence import Pause


class PausePeriod(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: date
    end: date | None = None

    def as_pause(self) -> Pause:
        return Pause(self.start, self.end)


class AssignmentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    clinic_id: str
    assignment_id: str
    version: int
    client_ref: str
    therapist_ref: str | None = None
    activity_kind: str = "other"
    activity_title: str = ""
    policy_id: str | None = None
    schedule: Schedule | None = None  # unknown until assigned (lifecycle may arrive first)
    status: str = "active"  # active | paused | cancelled
    pauses: tuple[PausePeriod, ...] = ()
    cancelled_on: date | None = None
    # The EHR's id for the assignment's latest version: alerts found by the periodic
    # sweep (caused by time passing, not by a message) carry it back.
    correlation_id: str | None = None

    def pause_list(self) -> list[Pause]:
        return [p.as_pause() for p in self.pauses]
