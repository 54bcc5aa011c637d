"""FHIR resources for the adapter's tests: HL7's published examples, and a patient-facing
Task as an EHR would send it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracker.fhir.elements import ACTIVITY_KIND_SYSTEM, POLICY_EXTENSION, TIMEZONE_EXTENSION

EXAMPLES = Path(__file__).parent / "examples"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def patient_task(**changes: Any) -> dict[str, Any]:
    """A patient-facing Task as an EHR sends it: a daily thought record for four weeks."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": "3f6c2a1e-8d4b-4f0a-9c3e-5b7d9e1f2a4c",
        "meta": {"versionId": "1", "lastUpdated": "2026-11-30T09:15:00+01:00"},
        "extension": [
            {"url": TIMEZONE_EXTENSION, "valueCode": "Europe/Berlin"},
            {"url": POLICY_EXTENSION, "valueId": "cbt-daily-gentle"},
        ],
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [{"system": ACTIVITY_KIND_SYSTEM, "code": "thought_record"}],
            "text": "Thought record after difficult moments",
        },
        "for": {"reference": "Patient/7d1e4b2a-3c5f-4e6a-8b9c-0d1e2f3a4b5c"},
        "requester": {"reference": "https://ehr.northside.example/fhir/Practitioner/pr-4411"},
        "authoredOn": "2026-11-30T09:10:00+01:00",
        "input": [
            {
                "type": {"text": "schedule"},
                "valueTiming": {
                    "repeat": {
                        "boundsPeriod": {"start": "2026-12-01", "end": "2026-12-28"},
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                        "timeOfDay": ["19:00:00", "09:00:00"],
                    }
                },
            }
        ],
    }
    task.update(changes)
    return task


def patient_careplan(**changes: Any) -> dict[str, Any]:
    """A therapy plan with two activities: a mood log every evening, a breathing practice
    on weekdays (held), as a clinic's EHR would send it."""
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "meta": {"versionId": "2", "lastUpdated": "2026-12-01T10:00:00-05:00"},
        "extension": [{"url": TIMEZONE_EXTENSION, "valueCode": "America/New_York"}],
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/7d1e4b2a-3c5f-4e6a-8b9c-0d1e2f3a4b5c"},
        "author": {"reference": "PractitionerRole/role-therapist-4411"},
        "period": {"start": "2026-12-01", "end": "2027-01-31"},
        "activity": [
            {
                "id": "mood",
                "detail": {
                    "status": "in-progress",
                    "code": {
                        "coding": [{"system": ACTIVITY_KIND_SYSTEM, "code": "mood_log"}],
                        "text": "Evening mood log",
                    },
                    "scheduledTiming": {
                        "repeat": {
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                            "timeOfDay": ["20:00:00"],
                        }
                    },
                },
            },
            {
                "id": "breathing",
                "detail": {
                    "status": "on-hold",
                    "code": {"text": "Paced breathing"},
                    "scheduledTiming": {
                        "repeat": {
                            "periodUnit": "d",
                            "dayOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        }
                    },
                },
            },
        ],
    }
    plan.update(changes)
    return plan
