"""The public contracts refuse bad input with messages that name the field and the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import (
    ActivityAssigned,
    ClientPreferencesChanged,
    ClinicPolicy,
    Event,
    ehr_event_adapter,
    internal_event_adapter,
    outbound_event_adapter,
)
from shared.contracts.examples import examples


def assigned(**overrides: Any) -> dict[str, Any]:
    data = examples()["activity.assigned"].model_dump(mode="json")
    for dotted, value in overrides.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return data


def error_text(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ehr_event_adapter.validate_python(data)
    return str(info.value)


def test_every_example_round_trips_through_its_stream_union() -> None:
    adapters = (ehr_event_adapter, internal_event_adapter, outbound_event_adapter)
    for tag, event in examples().items():
        wire = event.model_dump_json()
        parsed = [a for a in adapters if _parses(a, wire)]
        assert parsed, f"{tag} parses in no stream union"
        assert parsed[0].validate_json(wire) == event


def _parses(adapter: Any, wire: str) -> bool:
    try:
        adapter.validate_json(wire)
    except ValidationError:
        return False
    return True


def test_naive_datetime_is_refused_with_the_field_named() -> None:
    text = error_text(assigned(occurred_at="2026-11-21T09:00:00"))
    assert "occurred_at" in text
    assert "time zone offset" in text


def test_aware_datetime_is_normalised_to_utc() -> None:
    plus_two = datetime(2026, 11, 21, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    event = ehr_event_adapter.validate_python(assigned(occurred_at=plus_two.isoformat()))
    assert event.occurred_at == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo == UTC


def test_unknown_time_zone_is_refused() -> None:
    text = error_text(assigned(schedule__timezone="Mars/Olympus_Mons"))
    assert "schedule.timezone" in text
    assert "unknown IANA time zone" in text


def test_rrule_that_does_not_parse_is_refused() -> None:
    data = assigned(schedule__rrule="FREQ=FORTNIGHTLY;BYDAY=XX")
    data["schedule"]["frequency"] = None
    text = error_text(data)
    assert "schedule.rrule" in text
    assert "RFC 5545" in text


def test_valid_rrule_is_accepted_and_rrule_prefix_stripped() -> None:
    data = assigned(schedule__rrule="RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR")
    data["schedule"]["frequency"] = None
    event = ehr_event_adapter.validate_python(data)
    assert isinstance(event, ActivityAssigned)
    assert event.schedule.rrule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"


@pytest.mark.parametrize("phone", ["5551234", "+0123456789", "+1 555 0100", "+1234567890123456"])
def test_malformed_e164_numbers_are_refused(phone: str) -> None:
    data = examples()["client.preferences.changed"].model_dump(mode="json")
    data["contacts"]["sms"] = phone
    text = error_text(data)
    assert "contacts.sms" in text
    assert "E.164" in text


def test_malformed_email_is_refused() -> None:
    data = examples()["client.preferences.changed"].model_dump(mode="json")
    data["contacts"]["email"] = "not-an-email"
    assert "contacts.email" in error_text(data)


def test_unknown_extra_fields_are_tolerated_for_forward_compatibility() -> None:
    data = assigned()
    data["added_in_v2"] = {"anything": True}
    data["schedule"]["future_field"] = 1
    event = ehr_event_adapter.validate_python(data)
    assert event == examples()["activity.assigned"]


def test_unknown_type_is_refused_naming_the_known_ones() -> None:
    text = error_text({**assigned(), "type": "activity.exploded"})
    assert "activity.exploded" in text
    assert "activity.assigned" in text


def test_events_are_frozen() -> None:
    event = examples()["activity.assigned"]
    with pytest.raises(ValidationError):
        event.clinic_id = "someone-else"  # type: ignore[misc]


def test_identifiers_cannot_carry_contact_points_or_free_text() -> None:
    assert "client_ref" in error_text(assigned(client_ref="jane.doe@example.org"))
    assert "client_ref" in error_text(assigned(client_ref="Jane Doe"))


def test_schedule_needs_exactly_one_of_rrule_or_frequency() -> None:
    data = assigned()
    data["schedule"]["frequency"] = None
    assert "one of rrule or frequency" in error_text(data)


def test_schedule_end_before_start_is_refused() -> None:
    assert "end must not be before start" in error_text(assigned(schedule__end="2020-01-01"))


def test_future_schema_version_is_refused() -> None:
    assert "schema_version" in error_text(assigned(schema_version=2))


def test_policy_validation_errors_are_clear() -> None:
    policy = examples()["clinic.policy.changed"].model_dump(mode="json")["policy"]
    with pytest.raises(ValidationError, match="per_week must be at least"):
        ClinicPolicy.model_validate({**policy, "caps": {"per_day": 5, "per_week": 2}})
    with pytest.raises(
        ValidationError, match=r"quiet_hours\.start and quiet_hours\.end must differ"
    ):
        ClinicPolicy.model_validate({**policy, "quiet_hours": {"start": "08:00", "end": "08:00"}})
    with pytest.raises(ValidationError, match="each channel at most once"):
        ClinicPolicy.model_validate({**policy, "channels": ["sms", "sms"]})


def test_times_of_day_accept_hh_mm() -> None:
    policy = examples()["clinic.policy.changed"].model_dump(mode="json")["policy"]
    policy["default_rule"]["times_of_day"] = ["07:30"]
    assert ClinicPolicy.model_validate(policy).default_rule.times_of_day[0].minute == 30


def test_caused_copies_clinic_and_correlation() -> None:
    cause = examples()["activity.assigned"]
    effect = ClientPreferencesChanged.model_validate(
        {**examples()["client.preferences.changed"].model_dump(), **cause.caused()}
    )
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.event_id


def test_every_event_has_the_envelope() -> None:
    for event in examples().values():
        wire = json.loads(event.model_dump_json())
        assert {"event_id", "type", "schema_version", "occurred_at", "clinic_id"} <= set(wire)
        assert wire["correlation_id"]
        assert isinstance(event, Event)


def test_oversized_time_zone_is_a_validation_error_not_a_crash() -> None:
    # Found by the hostile-input drill: ZoneInfo raises OSError on a very long name.
    assert "schedule.timezone" in error_text(assigned(schedule__timezone="x" * 100_000))
    assert "schedule.timezone" in error_text(assigned(schedule__timezone="../../etc/passwd"))
