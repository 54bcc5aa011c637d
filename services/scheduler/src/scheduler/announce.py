"""What a re-plan tells the tracker: the client's new plan as a ``client.plan.changed``.

Pure: a plan and its cause in, the event out. The reminder ids are the timers' own
(``TimerMember.reminder_id``), so the tracker can match a planned item to the
``reminder.due`` and notifications that follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from shared.contracts import ClientPlanChanged, Event, derived_event_id
from shared.contracts.internal import MAX_PLAN_ITEMS
from shared.planning.ids import reminder_id
from shared.planning.model import HeldBack, Plan, PlannedReminder


@dataclass(frozen=True)
class Cause:
    """Why a client was re-planned: the causing event's type and envelope (or a fresh
    envelope for the horizon's roll, which no event causes)."""

    type: str
    clinic_id: str
    correlation_id: str
    causation_id: UUID | None = None

    @classmethod
    def of(cls, event: Event, type_: str | None = None) -> Cause:
        """The envelope ``event.caused()`` gives (same clinic and correlation)."""
        return cls(type_ or event.type_tag(), event.clinic_id, event.correlation_id, event.event_id)

    @classmethod
    def rolled(cls, client_key: str) -> Cause:
        clinic_id = client_key.split("/", 1)[0]
        return cls("horizon.rolled", clinic_id, correlation_id=str(uuid4()))


def plan_changed(client_key: str, plan: Plan, cause: Cause) -> ClientPlanChanged:
    upcoming = plan.reminders[:MAX_PLAN_ITEMS]  # the planner returns them in time order
    held = plan.held_back[:MAX_PLAN_ITEMS]
    # Announced again after a failed publish (the event is retried), it keeps its id.
    event_id = (
        derived_event_id("client.plan.changed", client_key, str(cause.causation_id))
        if cause.causation_id
        else uuid4()
    )
    assert plan.horizon_end is not None  # the planner always sets it
    return ClientPlanChanged.model_validate(
        {
            "event_id": event_id,
            "clinic_id": cause.clinic_id,
            "correlation_id": cause.correlation_id,
            "causation_id": cause.causation_id,
            "client_ref": client_key.split("/", 1)[1],
            "cause": cause.type,
            "upcoming": [_planned(r) for r in upcoming],
            "held_back": [_held(h) for h in held],
            "horizon_end": plan.horizon_end,
            "truncated": len(plan.reminders) > len(upcoming) or len(plan.held_back) > len(held),
        }
    )


# Items as dicts: the event's validator builds them in one pass, several times faster
# than a model (or model_construct) per item.
def _planned(r: PlannedReminder) -> dict[str, object]:
    return {
        "reminder_id": reminder_id(r.key, r.occurrence, r.purpose, r.slot),
        "assignment_id": r.key.split("/", 1)[1],
        "occurrence_date": r.occurrence,
        "purpose": r.purpose,
        "planned_for": r.fire_at,
        "slot": r.slot,
        "moved_from": r.moved_from,
    }


def _held(h: HeldBack) -> dict[str, object]:
    r = h.reminder
    return {
        "assignment_id": r.key.split("/", 1)[1],
        "occurrence_date": r.occurrence,
        "purpose": r.purpose,
        "would_fire_at": r.fire_at,
        "reason": h.reason,
    }
