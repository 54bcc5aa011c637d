"""Tracing is off by default and then installs nothing; on, the helpers that carry the
context across the scheduler's timers and the Twilio callback URL round-trip it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider

from scheduler.app import create_service
from scheduler.firing import reminder_event
from scheduler.replan import fire_info
from scheduler.settings import SchedulerSettings
from shared.contracts import ReminderPurpose
from shared.handling import make_broker
from shared.planning.ids import TimerMember, assignment_key
from shared.service import create_http_app
from shared.topology import Topology
from shared.tracing import QueryTraceparent, continued, current_traceparent, with_traceparent
from tests.scheduler.support import assignment_at

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CALLBACK = "https://notifier.example.org/webhooks/twilio/status"


def telemetry_installed(middlewares: Any) -> bool:
    return any(isinstance(m, RabbitTelemetryMiddleware) for m in middlewares)


def test_tracing_is_off_by_default_and_installs_nothing() -> None:
    settings = SchedulerSettings(namespace="t-unit")
    assert settings.tracing is False
    assert settings.otlp_endpoint == ""
    service = create_service(settings)
    assert service.tracer_provider is None
    assert not telemetry_installed(service.broker.middlewares)
    app = create_http_app(service)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_tracing_on_installs_the_telemetry_middleware_outermost() -> None:
    service = create_service(SchedulerSettings(namespace="t-unit", tracing=True))
    assert service.tracer_provider is not None
    assert isinstance(service.broker.middlewares[0], RabbitTelemetryMiddleware)
    assert getattr(create_http_app(service), "_is_instrumented_by_opentelemetry", False)


def test_a_broker_without_a_tracer_provider_has_no_telemetry() -> None:
    broker = make_broker("amqp://guest:guest@127.0.0.1:5672/", Topology(namespace="t-unit"))
    assert not telemetry_installed(broker.middlewares)
    assert len(broker.middlewares) == 1  # the handling middleware alone


def test_no_span_no_traceparent() -> None:
    assert current_traceparent() is None
    assert with_traceparent(CALLBACK) == CALLBACK


def test_the_callback_url_carries_the_current_trace() -> None:
    with continued(TRACEPARENT):
        assert current_traceparent() == TRACEPARENT
        url = with_traceparent(CALLBACK)
    assert current_traceparent() is None  # detached after the block
    assert url.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(url).query) == {"traceparent": [TRACEPARENT]}


def test_a_span_in_progress_is_what_the_url_carries() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("send") as span:
        traceparent = current_traceparent()
    assert traceparent is not None
    assert f"{span.get_span_context().trace_id:032x}" in traceparent


def test_a_timer_keeps_its_assignments_traceparent() -> None:
    now = datetime.now(UTC)
    assignment = assignment_at(1, now)
    member = TimerMember(
        assignment_key(assignment.clinic_id, assignment.assignment_id),
        now.date(),
        ReminderPurpose.REMINDER,
        "0",
        now,
    )
    untraced = fire_info("cl-1", 1, assignment, "pol-1")
    assert "tp" not in untraced  # tracing off: nothing more is stored per assignment
    assert reminder_event(member, untraced.encode())[1] is None
    traced = fire_info("cl-1", 1, assignment, "pol-1", TRACEPARENT)
    event, trace = reminder_event(member, traced.encode())
    assert trace == TRACEPARENT
    assert event.assignment_id == assignment.assignment_id


async def test_a_query_traceparent_becomes_the_header() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    shim = QueryTraceparent(app)
    query = f"traceparent={TRACEPARENT}".encode()
    await shim({"type": "http", "query_string": query, "headers": []}, None, None)
    assert (b"traceparent", TRACEPARENT.encode()) in seen[-1]["headers"]
    own = [(b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    await shim({"type": "http", "query_string": query, "headers": own}, None, None)
    assert seen[-1]["headers"] == own  # a caller's own header wins
