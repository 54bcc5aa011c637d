"""The FHIR routes' refusals that need no broker: the body's size and syntax, and a
publish that fails (503, so the EHR sends the resource again). The routes run on a
FastAPI app with a publisher that fails or records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from shared.contracts import Event
from tests.fhir.conftest import AS_NORTHSIDE, fhir_settings
from tests.fhir.resources import patient_careplan, patient_task
from tracker.fhir.routes import fhir_router
from tracker.runtime import Runtime


@dataclass
class Publisher:
    down: bool = False
    sent: list[Event] = field(default_factory=list)

    async def publish(self, event: Event) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append(event)


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
async def http(publisher: Publisher) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime(fhir_settings("fhir-routes-unit", max_body_bytes=4096))
    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(fhir_router(runtime, publisher))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker") as client:
        yield client


async def test_a_body_that_is_too_large_or_not_json_is_refused(
    http: httpx.AsyncClient, publisher: Publisher
) -> None:
    big = patient_task(description="x" * 5000)
    assert (await http.post("/fhir/Task", json=big, headers=AS_NORTHSIDE)).status_code == 413
    broken = await http.post("/fhir/CarePlan", content=b"{", headers=AS_NORTHSIDE)
    assert broken.status_code == 400
    assert broken.json()["issue"][0]["expression"] == ["CarePlan"]
    assert publisher.sent == []


async def test_a_failed_publish_is_503_so_the_ehr_sends_it_again(
    http: httpx.AsyncClient, publisher: Publisher
) -> None:
    publisher.down = True
    response = await http.post("/fhir/Task", json=patient_task(), headers=AS_NORTHSIDE)
    assert response.status_code == 503
    [issue] = response.json()["issue"]
    assert (issue["code"], issue["expression"]) == ("transient", ["Task"])
    publisher.down = False
    again = await http.post("/fhir/Task", json=patient_task(), headers=AS_NORTHSIDE)
    assert again.status_code == 201


async def test_a_draft_publishes_nothing(http: httpx.AsyncClient, publisher: Publisher) -> None:
    for url, body in (
        ("/fhir/Task", patient_task(status="draft")),
        ("/fhir/CarePlan", patient_careplan(status="draft")),
    ):
        response = await http.post(url, json=body, headers=AS_NORTHSIDE)
        assert response.status_code == 200
        assert response.json()["issue"][0]["severity"] == "information"
    assert publisher.sent == []
