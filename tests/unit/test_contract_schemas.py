"""What an EHR must send is what the published schemas say, and validation agrees."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import pytest
from pydantic import ValidationError

from shared.contracts import (
    ActivityCancelled,
    ReminderDelivered,
    ehr_event_adapter,
    new_envelope,
)
from shared.contracts.examples import examples
from shared.topology import PUBLISH_TO, Exchange

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
ENVELOPE = ("event_id", "occurred_at", "correlation_id")
INBOUND = sorted(tag for tag, ex in PUBLISH_TO.items() if Exchange.INBOUND in ex)
OUTBOUND = sorted(tag for tag, ex in PUBLISH_TO.items() if Exchange.OUTBOUND in ex)


def wire(tag: str) -> dict[str, Any]:
    data: dict[str, Any] = examples()[tag].model_dump(mode="json")
    return data


@pytest.mark.parametrize("tag", INBOUND)
@pytest.mark.parametrize("field", ENVELOPE)
def test_an_inbound_event_without_its_envelope_is_refused_naming_the_field(
    tag: str, field: str
) -> None:
    """A missing event_id was once replaced by a random one: a re-send was applied twice."""
    data = wire(tag)
    del data[field]
    with pytest.raises(ValidationError) as info:
        ehr_event_adapter.validate_python(data)
    [error] = info.value.errors()
    assert error["loc"] == (tag, field)
    assert error["type"] == "missing"


@pytest.mark.parametrize("tag", INBOUND)
def test_published_inbound_schemas_require_the_envelope(tag: str) -> None:
    schema = json.loads((DOCS / "inbound" / f"{tag}.schema.json").read_text())
    assert set(ENVELOPE) <= set(schema["required"])
    union = json.loads((DOCS / "ehr-inbound.schema.json").read_text())
    definition = next(d for d in union["$defs"].values() if d.get("title") == schema["title"])
    assert set(ENVELOPE) <= set(definition["required"])


def test_our_own_events_keep_their_envelope_defaults() -> None:
    delivered = wire("reminder.delivered")
    for field in ENVELOPE:
        del delivered[field]
    assert ReminderDelivered.model_validate(delivered).event_id


def test_new_envelope_starts_a_chain_or_joins_one() -> None:
    first, second = new_envelope(), new_envelope("ehr-req-7")
    assert first["event_id"] != second["event_id"]
    assert second["correlation_id"] == "ehr-req-7"
    event = ActivityCancelled(
        **first, clinic_id="c1", assignment_id="a1", version=2, client_ref="cl1"
    )
    assert (event.event_id, event.correlation_id) == (first["event_id"], first["correlation_id"])


def test_every_schema_file_names_its_dialect_and_id() -> None:
    files = sorted(DOCS.rglob("*.schema.json"))
    assert len(files) == 2 + len(INBOUND) + len(OUTBOUND)
    ids = set()
    for path in files:
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].startswith("urn:between-sessions:schema:v1:")
        ids.add(schema["$id"])
    assert len(ids) == len(files)


def _find(schema: Any, key: str) -> list[dict[str, Any]]:
    """Every string or array sub-schema of ``schema`` describing a property ``key``."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            if name == key and sub.get("anyOf", [sub])[0].get("type") in ("string", "array"):
                found.append(sub.get("anyOf", [sub])[0])
        for value in schema.values():
            found += _find(value, key)
    elif isinstance(schema, list):
        for value in schema:
            found += _find(value, key)
    return found


def test_e164_time_zone_and_rrule_rules_are_in_the_schemas() -> None:
    prefs = json.loads((DOCS / "inbound" / "client.preferences.changed.schema.json").read_text())
    [sms] = _find(prefs, "sms")
    assert re.fullmatch(sms["pattern"], "+15005550006")
    assert not re.fullmatch(sms["pattern"], "+1 (555) 0100")
    assert "E.164" in sms["description"]
    [timezone] = _find(prefs, "timezone")
    assert "IANA" in timezone["description"]
    assert all(re.fullmatch(timezone["pattern"], name) for name in available_timezones())
    assigned = json.loads((DOCS / "inbound" / "activity.assigned.schema.json").read_text())
    [rrule] = _find(assigned, "rrule")
    assert "RFC 5545" in rrule["description"]
    assert "DTSTART" in rrule["description"]
    assert re.fullmatch(rrule["pattern"], "FREQ=WEEKLY;BYDAY=MO,WE,FR")
    assert not re.fullmatch(rrule["pattern"], "every monday")
    times, *_ = _find(assigned, "times_of_day")
    assert re.fullmatch(times["items"]["pattern"], "07:30")
    assert not re.fullmatch(times["items"]["pattern"], "07:30+01:00")
