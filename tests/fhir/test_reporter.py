"""The FHIR reporter against a local FHIR server over HTTP: what it posts validates as
R4 ``Communication`` / ``Observation`` (fhir.resources), carries no message text, and is
created once; a busy server is retried, a refusal dead-lettered with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from aio_pika.abc import AbstractChannel
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.observation import Observation

from shared.broker import publish_event
from shared.contracts import AdherenceSummary, AssignmentAdherence, ReminderDelivered
from shared.errors import TransientError
from shared.handling import REASON_HEADER
from shared.topology import TRACKER_FHIR_QUEUE, Topology
from tests.fhir.conftest import AS_OPS, NORTHSIDE, fhir_settings
from tests.fhir.fhir_server import FakeFhirServer
from tests.support.infra import wait_for
from tests.tracker.conftest import started
from tracker.fhir.mapping_out import REMINDER_SYSTEM
from tracker.fhir.reporter import FhirRefusedError, FhirReporter

TOKEN = "ehr-fhir-server-token-9f8e7d6c5b4a39281706"
TASK_ID = "3f6c2a1e-8d4b-4f0a-9c3e-5b7d9e1f2a4c"
PATIENT = "7d1e4b2a-3c5f-4e6a-8b9c-0d1e2f3a4b5c"


def delivered(channel: str = "sms", client_ref: str = PATIENT) -> ReminderDelivered:
    return ReminderDelivered(
        clinic_id=NORTHSIDE,
        reminder_id=f"rem-{uuid4()}",
        assignment_id=TASK_ID,
        client_ref=client_ref,
        occurrence_date=date(2026, 12, 2),
        purpose="reminder",
        channel=channel,
        delivered_at=datetime(2026, 12, 2, 18, 0, 4, tzinfo=UTC),
    )


def summary(rate: float | None = 6 / 7) -> AdherenceSummary:
    due, done = (7, 6) if rate is not None else (0, 0)
    return AdherenceSummary(
        clinic_id=NORTHSIDE,
        session_id=f"session-{uuid4()}",
        client_ref=PATIENT,
        therapist_ref="pr-4411",
        period_start=datetime(2026, 11, 26, 15, tzinfo=UTC),
        period_end=datetime(2026, 12, 3, 15, tzinfo=UTC),
        assignments=(
            AssignmentAdherence(
                assignment_id=TASK_ID,
                activity_kind="thought_record",
                due=due,
                done=done,
                missed=due - done,
                rate=rate,
                current_streak=3,
                longest_streak=4,
                notes=("Hard on Tuesday, easier after the walk",),
            ),
        ),
        due=due,
        done=done,
        rate=rate,
    )


@pytest.fixture
async def fhir_server() -> AsyncIterator[FakeFhirServer]:
    server = FakeFhirServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def reporter(fhir_server: FakeFhirServer) -> AsyncIterator[FhirReporter]:
    reporter = FhirReporter(fhir_server.base_url, TOKEN, timeout_seconds=5)
    yield reporter
    await reporter.close()


async def test_a_delivered_reminder_is_posted_as_a_communication_without_its_text(
    fhir_server: FakeFhirServer, reporter: FhirReporter
) -> None:
    event = delivered("email")
    assert await reporter.report(event) == "Communication"
    [got] = fhir_server.received
    assert got.resource_type == "Communication"
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    assert got.headers["Content-Type"].startswith("application/fhir+json")
    assert got.headers["If-None-Exist"] == f"identifier={REMINDER_SYSTEM}|{event.reminder_id}"
    resource = Communication.model_validate(got.body)
    assert resource.status == "completed"
    assert resource.subject is not None
    assert resource.subject.reference == f"Patient/{PATIENT}"
    assert [r.reference for r in resource.basedOn or ()] == [f"Task/{TASK_ID}"]
    assert resource.sent == event.delivered_at
    medium = resource.medium[0] if resource.medium else None
    assert medium is not None
    assert medium.coding
    assert medium.coding[0].code == "EMAILWRIT"
    assert resource.payload is None  # minimum necessary: the EHR gets no message text


async def test_an_adherence_summary_is_posted_as_an_observation_of_counts_and_a_rate(
    fhir_server: FakeFhirServer, reporter: FhirReporter
) -> None:
    assert await reporter.report(summary()) == "Observation"
    assert await reporter.report(summary(rate=None)) == "Observation"
    with_rate, nothing_due = (Observation.model_validate(r.body) for r in fhir_server.received)
    assert with_rate.valueQuantity is not None
    assert (float(with_rate.valueQuantity.value or 0), with_rate.valueQuantity.code) == (85.7, "%")
    counts = {
        c.code.coding[0].code: int(c.valueQuantity.value or 0)
        for c in with_rate.component or ()
        if c.code.coding and c.valueQuantity
    }
    assert counts == {"due": 7, "done": 6, "missed": 1}
    assert with_rate.effectivePeriod is not None
    assert with_rate.effectivePeriod.start == datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert nothing_due.valueQuantity is None
    assert nothing_due.dataAbsentReason is not None
    assert "Tuesday" not in str(fhir_server.received[0].body)  # the client's notes stay out


async def test_a_busy_server_is_retried_later_and_a_refusal_says_why(
    fhir_server: FakeFhirServer, reporter: FhirReporter
) -> None:
    fhir_server.answers = [(503, "down for maintenance"), (422, "Task/unknown-task not found")]
    with pytest.raises(TransientError) as busy:
        await reporter.report(delivered())
    assert busy.value.retry_after == 7
    with pytest.raises(FhirRefusedError, match=r"refused the Communication \(422\).*not found"):
        await reporter.report(delivered())


async def test_an_unreachable_server_is_transient() -> None:
    gone = FhirReporter("https://127.0.0.1:9/fhir/r4", timeout_seconds=2)
    try:
        with pytest.raises(TransientError, match="unreachable"):
            await gone.report(delivered())
    finally:
        await gone.close()


@pytest.mark.integration
async def test_the_tracker_posts_what_it_publishes_to_the_ehr_and_dead_letters_a_refusal(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel, fhir_server: FakeFhirServer
) -> None:
    settings = fhir_settings(
        topology.namespace, fhir_base_url=fhir_server.base_url, fhir_bearer_token=TOKEN
    )
    queue, dlq = topology.queue(TRACKER_FHIR_QUEUE), topology.dlq(TRACKER_FHIR_QUEUE)
    try:
        async with started(settings, topology, rabbit_channel) as tracker:
            first = delivered()
            await publish_event(rabbit_channel, topology, first)
            await publish_event(rabbit_channel, topology, first)  # a redelivery upstream
            await publish_event(rabbit_channel, topology, summary())
            await wait_for(lambda: len(fhir_server.received) == 3)
            assert len(fhir_server.created) == 2  # the repeat matched its conditional create
            fhir_server.answers = [(422, "Patient/not-ours is not known here")]
            await publish_event(rabbit_channel, topology, delivered(client_ref="not-ours"))

            async def dead_lettered() -> bool:
                found = await rabbit_channel.declare_queue(dlq, passive=True)
                return found.declaration_result.message_count == 1

            await wait_for(dead_lettered, timeout=10)
            listed = await tracker.http.get("/api/console/dead-letters", headers=AS_OPS)
            depths = {row["queue"]: row["depth"] for row in listed.json()["queues"]}
            assert depths[TRACKER_FHIR_QUEUE] == 1  # the console lists the reporter's DLQ
            message = await (await rabbit_channel.get_queue(dlq)).get(no_ack=True)
            reason = str((message.headers or {})[REASON_HEADER])
            assert "refused the Communication (422)" in reason
            assert "not known here" in reason
    finally:
        for name in (queue, dlq):
            await rabbit_channel.queue_delete(name)
