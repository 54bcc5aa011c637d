"""Every service's HTTP side: request metrics per route template and exact status (a
refused Twilio callback shows as a 403 of its route), bounded labels, probes not counted;
readiness checks that answer within their timeout and name what failed."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY

from shared.metrics import FirstSeen, event_type_label
from shared.readiness import run_checks
from shared.service import Service, create_http_app
from shared.settings import ServiceSettings


def requests(method: str, handler: str, status: str) -> float:
    labels = {"method": method, "handler": handler, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


@pytest.fixture
def app() -> FastAPI:
    """The shared HTTP app, not started: no broker connection, no Redis."""
    service = Service(name="probe", settings=ServiceSettings(), consumes=(), publishes=())
    app = create_http_app(service)

    @app.post("/webhooks/twilio/status")
    async def refuse() -> None:
        raise HTTPException(403, "invalid X-Twilio-Signature")

    @app.get("/d/{code}")
    async def done(code: str) -> dict[str, str]:
        return {"code": code}

    return app


async def call(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


async def test_requests_count_by_route_template_and_exact_status(app: FastAPI) -> None:
    before = {
        "refused": requests("POST", "/webhooks/twilio/status", "403"),
        "done": requests("GET", "/d/{code}", "200"),
        "unknown": requests("GET", "none", "404"),
        "odd": requests("other", "/d/{code}", "405"),
    }
    assert (await call(app, "POST", "/webhooks/twilio/status")).status_code == 403
    assert (await call(app, "GET", "/d/secret-token-1")).status_code == 200
    assert (await call(app, "GET", "/d/secret-token-2")).status_code == 200
    assert (await call(app, "GET", "/no/such/path")).status_code == 404
    assert (await call(app, "BREW", "/d/x")).status_code == 405
    assert requests("POST", "/webhooks/twilio/status", "403") == before["refused"] + 1
    assert requests("GET", "/d/{code}", "200") == before["done"] + 2
    assert requests("GET", "none", "404") == before["unknown"] + 1
    assert requests("other", "/d/{code}", "405") == before["odd"] + 1
    labels = {"method": "GET", "handler": "/d/{code}"}
    assert (REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0) >= 2


async def test_probes_and_scrapes_are_not_counted(app: FastAPI) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        await call(app, "GET", path)
        for status in ("200", "503"):
            assert requests("GET", path, status) == 0


async def test_readyz_names_every_dependency_that_is_down_healthz_stays_ok(app: FastAPI) -> None:
    health = await call(app, "GET", "/healthz")
    assert health.status_code == 200
    ready = await call(app, "GET", "/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["rabbitmq", "redis"]
    assert "broker connection is down" in body["checks"]["rabbitmq"]


async def test_a_hung_check_answers_within_its_timeout() -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    async def fails() -> None:
        raise ConnectionRefusedError("refused")

    async def answers() -> None:
        return None

    started = time.monotonic()
    checks = await run_checks({"a": hangs, "b": fails, "c": answers}, limit=0.2)
    assert time.monotonic() - started < 1.0
    assert checks == {
        "a": "no answer within 0.2s",
        "b": "ConnectionRefusedError: refused",
        "c": "ok",
    }


def test_labels_from_messages_are_bounded() -> None:
    assert event_type_label("reminder.due") == "reminder.due"
    assert event_type_label("anything.a.sender.invents") == "other"
    clinics = FirstSeen(2)
    assert [clinics(c) for c in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]
