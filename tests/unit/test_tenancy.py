"""Publishers bound to their clinics: the tenants setting and the check of a delivered event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from shared.contracts import ActivityCancelled, ClinicPolicyChanged, new_envelope
from shared.handling import body_validator, permanent_reason
from shared.settings import ServiceSettings
from shared.tenancy import (
    TenantCheck,
    TenantRefusedError,
    connection_user,
    parse_tenants,
    refusal,
    tenant_check,
)
from shared.topology import Topology

NORTHSIDE = "clinic-northside-family-counselling-and-wellbeing-centre-0001"
LAKESIDE = "clinic-lakeside-community-psychotherapy-associates-0002"
TENANTS = {
    "ehr-northside": frozenset({NORTHSIDE, "clinic-northside-annex"}),
    "ehr-lakeside": frozenset({LAKESIDE}),
    "bs-console": frozenset({"*"}),
}


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore", frozen=True)


def test_the_variable_maps_each_user_to_its_clinics() -> None:
    text = f" ehr-northside = {NORTHSIDE}, clinic-northside-annex ;ehr-lakeside={LAKESIDE};"
    assert parse_tenants(text + "bs-console=*") == TENANTS
    assert parse_tenants("") == {}
    assert parse_tenants(" ; ") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ehr-northside", "is not 'user=clinic,clinic'"),
        ("ehr-northside=", "has an empty clinic id"),
        ("ehr-northside=clinic-a,,clinic-b", "has an empty clinic id"),
        ("=clinic-a", "is not a RabbitMQ user name"),
        ("ehr north=clinic-a", "is not a RabbitMQ user name"),
        ("ehr-a=clinic-a;ehr-a=clinic-b", "listed twice"),
        ("ehr-a=clinic a", "is not a clinic id"),
        ("ehr-a=*,clinic-a", "stands alone"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, text: str, says: str
) -> None:
    monkeypatch.setenv("EXAMPLE_TENANTS", text)
    with pytest.raises(ValidationError) as refused:
        ExampleSettings()
    assert "EXAMPLE_TENANTS is malformed" in str(refused.value)
    assert says in str(refused.value)


def test_every_service_reads_its_own_variable_and_defaults_to_not_enforced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from notifier.settings import NotifierSettings

    monkeypatch.setenv("BS_DEV_MODE", "true")
    assert NotifierSettings().tenants == {}
    monkeypatch.setenv("NOTIFIER_TENANTS", f"ehr-lakeside={LAKESIDE};bs-console=*")
    assert NotifierSettings().tenants == {
        "ehr-lakeside": frozenset({LAKESIDE}),
        "bs-console": frozenset({"*"}),
    }
    given = ExampleSettings(tenants={"ehr-lakeside": [LAKESIDE]})
    assert given.tenants == {"ehr-lakeside": frozenset({LAKESIDE})}


def test_a_tenant_speaks_only_for_its_own_clinics() -> None:
    assert refusal("ehr-northside", NORTHSIDE, TENANTS) is None
    assert refusal("ehr-northside", "clinic-northside-annex", TENANTS) is None
    assert refusal("bs-console", LAKESIDE, TENANTS) is None
    assert refusal("ehr-lakeside", NORTHSIDE, TENANTS) == (
        f"publisher 'ehr-lakeside' may not speak for clinic '{NORTHSIDE}'"
    )
    assert refusal("ehr-unknown", NORTHSIDE, TENANTS) == (
        "publisher 'ehr-unknown' is not a configured tenant"
    )
    for missing in (None, ""):
        assert refusal(missing, NORTHSIDE, TENANTS) == (
            "message has no user_id: set the user_id property to your RabbitMQ user name"
        )


def test_only_events_from_the_inbound_exchange_are_checked() -> None:
    topology = Topology(namespace="tenants-unit")
    check = tenant_check(TENANTS, topology)
    assert check is not None
    inbound = topology.exchange("bs.ehr.inbound")
    check.check(inbound, "ehr-lakeside", LAKESIDE)
    check.check(topology.requeue_exchange, None, NORTHSIDE)  # checked on first delivery
    check.check(inbound, None, None)  # no clinic: not an inbound event
    with pytest.raises(TenantRefusedError) as refused:
        check.check(inbound, "ehr-lakeside", NORTHSIDE)
    assert permanent_reason(refused.value, b"{}") == (
        f"publisher 'ehr-lakeside' may not speak for clinic '{NORTHSIDE}'"
    )
    assert tenant_check({}, topology) is None


def test_the_connection_user_comes_from_the_amqp_url() -> None:
    assert connection_user("amqp://ehr-lakeside:secret@rabbit:5672/") == "ehr-lakeside"
    assert connection_user("amqp://ehr%40lake:secret@rabbit/vhost") == "ehr@lake"
    assert connection_user("amqp://rabbit:5672/") == "guest"


@dataclass
class Delivered:
    """The attributes of a StreamMessage (and its raw aio-pika message) the decoder reads."""

    body: bytes
    exchange: str
    user_id: str | None

    @property
    def raw_message(self) -> Delivered:
        return self


async def on_inbound(event: ActivityCancelled | ClinicPolicyChanged) -> None: ...


def decode(check: TenantCheck | None, message: Delivered) -> Any:
    decoder = body_validator(on_inbound, check)
    assert decoder is not None
    return asyncio.run(decoder(message))  # type: ignore[arg-type]


def test_the_decoder_checks_the_publisher_of_a_validated_inbound_event() -> None:
    topology = Topology(namespace="tenants-unit")
    inbound = topology.exchange("bs.ehr.inbound")
    event = ActivityCancelled(
        **new_envelope(),
        clinic_id=NORTHSIDE,
        assignment_id="asg-5d1f0c2e-8a4b-4f6e-9b2d-3c7a1e0f9d84",
        version=2,
        client_ref="client-7c9e6679-7425-40de-944b-e07fc1f90ae7",
    )
    body = event.model_dump_json().encode()
    check = tenant_check(TENANTS, topology)
    assert decode(check, Delivered(body, inbound, "ehr-northside")) == event
    assert decode(None, Delivered(body, inbound, "ehr-lakeside")) == event  # not enforced
    with pytest.raises(TenantRefusedError, match="may not speak for clinic"):
        decode(check, Delivered(body, inbound, "ehr-lakeside"))
