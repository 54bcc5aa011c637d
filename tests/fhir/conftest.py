"""A tracker in-process on a unique namespace with two clinics' tokens and their FHIR
defaults, and a queue that sees what reaches the inbound exchange (as the scheduler)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from pydantic import SecretStr

from shared.topology import Exchange, Topology
from tests.tracker.conftest import OPS, SECRET, Tracker, started
from tracker.settings import FhirClinicDefaults, TrackerSettings

NORTHSIDE = "northside-community-mental-health-services-clinic-7"
LAKESIDE = "lakeside-family-therapy-and-counselling-centre-2"
NORTHSIDE_TOKEN = "northside-ehr-fhir-token-5f1d2a7c9b3e4d6f8a0b"
LAKESIDE_TOKEN = "lakeside-ehr-fhir-token-0c9e8d7b6a5f4e3d2c1b"
AS_NORTHSIDE = {"Authorization": f"Bearer {NORTHSIDE_TOKEN}"}
AS_LAKESIDE = {"Authorization": f"Bearer {LAKESIDE_TOKEN}"}
AS_OPS = {"Authorization": f"Bearer {OPS}"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def fhir_settings(namespace: str, **extra: Any) -> TrackerSettings:
    return TrackerSettings(
        namespace=namespace,
        ops_token=SecretStr(OPS),
        link_secrets=(SecretStr(SECRET),),
        clinic_tokens={NORTHSIDE_TOKEN: NORTHSIDE, LAKESIDE_TOKEN: LAKESIDE},
        fhir_clinics={
            NORTHSIDE: FhirClinicDefaults(policy_id="northside-default", timezone="Europe/Berlin"),
            LAKESIDE: FhirClinicDefaults(policy_id="lakeside-default", timezone="America/Denver"),
        },
        escalation_interval_seconds=3600,
        log_format="console",
        **extra,
    )


@dataclass
class Inbound:
    """Every activity.* event on the inbound exchange, in arrival order."""

    events: list[dict[str, Any]] = field(default_factory=list)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.events.append(json.loads(message.body))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
async def fhir_tracker(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> AsyncIterator[Tracker]:
    settings = fhir_settings(topology.namespace)
    async with started(settings, topology, rabbit_channel) as tracker:
        yield tracker


@pytest.fixture
async def inbound(fhir_tracker: Tracker) -> Inbound:
    seen = Inbound()
    queue = await fhir_tracker.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(fhir_tracker.topology.exchange(Exchange.INBOUND), "activity.*")
    await queue.consume(seen.on_message)
    return seen
