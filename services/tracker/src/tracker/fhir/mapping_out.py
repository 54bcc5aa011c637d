"""Our outbound events as the FHIR R4 resources the EHR keeps. Pure.

Minimum necessary: a ``Communication`` says that a reminder reached the client, on which
channel and when, and which Task it was for. It never carries the message's text (the
EHR has no need of it, and it would put a health message in one more place). The
adherence ``Observation`` carries counts and a rate, never pass or fail, and leaves out
the client's notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.observation import Observation

from shared.contracts import AdherenceSummary, Channel, ReminderDelivered
from tracker.fhir.elements import CANONICAL

REMINDER_SYSTEM = f"{CANONICAL}/reminder"
SUMMARY_SYSTEM = f"{CANONICAL}/adherence-summary"
SESSION_EXTENSION = f"{CANONICAL}/StructureDefinition/session-id"
ADHERENCE_SYSTEM = f"{CANONICAL}/CodeSystem/adherence"
_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_UCUM = "http://unitsofmeasure.org"
# v3 ParticipationMode has no code of its own for SMS or push: the written modes that fit,
# with the channel in the text.
_MEDIUM = {
    Channel.SMS: ("WRITTEN", "written", "SMS"),
    Channel.EMAIL: ("EMAILWRIT", "email", "email"),
    Channel.PUSH: ("ONLINEWRIT", "online written", "push notification"),
}


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _patient(client_ref: str) -> dict[str, str]:
    return {"reference": f"Patient/{client_ref}"}


def communication(event: ReminderDelivered) -> dict[str, Any]:
    """A delivered reminder as a completed ``Communication`` (no payload)."""
    code, display, text = _MEDIUM[event.channel]
    body = {
        "resourceType": "Communication",
        "identifier": [{"system": REMINDER_SYSTEM, "value": event.reminder_id}],
        "basedOn": [{"reference": f"Task/{event.assignment_id}"}],
        "status": "completed",
        "category": [{"coding": [{"system": _CATEGORY, "code": "reminder"}]}],
        "medium": [{"coding": [{"system": _MODE, "code": code, "display": display}], "text": text}],
        "subject": _patient(event.client_ref),
        "recipient": [_patient(event.client_ref)],
        "sent": _instant(event.delivered_at),
    }
    return Communication.model_validate(body).model_dump(mode="json", exclude_none=True)


def _count(code: str, display: str, value: int) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": ADHERENCE_SYSTEM, "code": code, "display": display}]},
        "valueQuantity": {"value": value, "unit": "occurrences", "system": _UCUM, "code": "1"},
    }


def observation(event: AdherenceSummary) -> dict[str, Any]:
    """The summary before a session: the share done as a percentage (absent when nothing
    was due), and the counts as components."""
    missed = sum(a.missed for a in event.assignments)
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": SUMMARY_SYSTEM, "value": str(event.event_id)}],
        "extension": [{"url": SESSION_EXTENSION, "valueString": event.session_id}],
        "status": "final",
        "category": [{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "activity"}]}],
        "code": {
            "coding": [
                {"system": ADHERENCE_SYSTEM, "code": "adherence", "display": "Activity adherence"}
            ],
            "text": "Share of between-session activities done",
        },
        "subject": _patient(event.client_ref),
        "effectivePeriod": {
            "start": _instant(event.period_start),
            "end": _instant(event.period_end),
        },
        "issued": _instant(event.occurred_at),
        "component": [
            _count("due", "Occurrences due", event.due),
            _count("done", "Occurrences done", event.done),
            _count("missed", "Occurrences missed", missed),
        ],
    }
    if event.rate is None:
        body["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "not-applicable",
                }
            ],
            "text": "nothing was due in the period",
        }
    else:
        body["valueQuantity"] = {
            "value": round(event.rate * 100, 1),
            "unit": "%",
            "system": _UCUM,
            "code": "%",
        }
    return Observation.model_validate(body).model_dump(mode="json", exclude_none=True)
