"""One reminder is one trace: the three services in this process (real RabbitMQ, Redis and
HTTP), tracing on, every span in memory. An EHR publishes an assignment through a traced
broker; the scheduler fires its reminder seconds later from its timer loop; the notifier
sends it to the local Twilio API, whose signed status callback comes back over HTTP; the
tracker publishes reminder.delivered. All of it shares the assignment's trace id."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from fastapi import FastAPI
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from notifier.app import create_app as notifier_app
from notifier.settings import NotifierSettings
from scheduler.app import create_app as scheduler_app
from scheduler.settings import SchedulerSettings
from shared.broker import EventPublisher, publish_event
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Frequency,
    QuietHours,
    RuleOverride,
    Schedule,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.handling import make_broker
from shared.topology import Exchange, Topology
from tests.fakes.twilio_api import FakeTwilio
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.services import free_port, running
from tracker.app import create_app as tracker_app
from tracker.settings import TrackerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CLINIC = "clinic-trace"
PHONE = "+15551230077"
SECRET = "link-secret-tracing-" + "k" * 32


def traced(app: FastAPI, exporter: InMemorySpanExporter) -> FastAPI:
    """The app, its service's spans also kept in ``exporter``."""
    provider: TracerProvider = app.state.service.tracer_provider
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return app


@asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[None]:
    """The app on a real port: Twilio's callback is an HTTP request."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started, timeout=20)
        yield
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def ehr_publisher(
    topology: Topology, exporter: InMemorySpanExporter
) -> AsyncIterator[EventPublisher]:
    """An EHR publishing through a traced FastStream broker: the trace starts there."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "ehr"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = make_broker(AMQP_URL, topology, tracer_provider=provider)
    publisher = EventPublisher(broker, topology, (ActivityAssigned,))
    await broker.start()
    try:
        yield publisher
    finally:
        await broker.stop()


async def delivered_listener(
    channel: AbstractChannel, topology: Topology, seen: list[dict[str, Any]]
) -> None:
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.exchange(Exchange.OUTBOUND), routing_key="reminder.delivered")

    async def collect(message: AbstractIncomingMessage) -> None:
        seen.append(json.loads(message.body))
        await message.ack()

    await queue.consume(collect)


def the_assignment(reminder_at: time, today: Any) -> ActivityAssigned:
    return ActivityAssigned(
        **new_envelope(correlation_id=f"ehr-request-{uuid.uuid4()}"),
        clinic_id=CLINIC,
        assignment_id=str(uuid.uuid4()),
        client_ref=CLIENT,
        therapist_ref="therapist-trace",
        activity=Activity(kind=ActivityKind.DIARY_CARD, title="Diary card: urges and skills"),
        schedule=Schedule(
            timezone="UTC",
            start=today,
            end=today + timedelta(days=6),
            frequency=Frequency.DAILY,
            times_of_day=(reminder_at,),
        ),
        policy_id="trace",
        overrides=RuleOverride(spread_minutes=0),
    )


CLIENT = str(uuid.uuid4())


def one(spans: Sequence[ReadableSpan], service: str, key: str, action: str) -> ReadableSpan:
    """The span of ``service`` that did ``action`` (publish/process) with routing key ``key``."""
    found = [
        s
        for s in spans
        if s.resource.attributes.get(SERVICE_NAME) == service
        and s.name.endswith(f".{key} {action}")
    ]
    assert found, (service, key, action, sorted({s.name for s in spans}))
    return found[0]


async def test_one_reminder_is_one_trace_across_the_three_services(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> None:
    ns = topology.namespace
    common: dict[str, Any] = {
        "namespace": ns,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "tracing": True,
        "log_format": "console",
    }
    notifier_port = free_port()
    twilio = FakeTwilio()
    await twilio.start()
    exporter = InMemorySpanExporter()
    scheduler = traced(scheduler_app(SchedulerSettings(**common)), exporter)
    notifier = traced(
        notifier_app(
            NotifierSettings(
                **common,
                http_port=notifier_port,
                webhook_base_url=f"http://127.0.0.1:{notifier_port}",
                link_secrets=(SecretStr(SECRET),),
                sms_provider="twilio",
                twilio_base_url=twilio.base_url,
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=SecretStr(twilio.auth_token),
                sms_rate_per_second=50,
            )
        ),
        exporter,
    )
    tracker = traced(
        tracker_app(TrackerSettings(**common, link_secrets=(SecretStr(SECRET),))), exporter
    )
    delivered: list[dict[str, Any]] = []
    async with AsyncExitStack() as stack:
        stack.push_async_callback(twilio.stop)
        await stack.enter_async_context(running(scheduler))
        await stack.enter_async_context(served(notifier, notifier_port))
        await stack.enter_async_context(running(tracker))
        ehr = await stack.enter_async_context(ehr_publisher(topology, exporter))
        await delivered_listener(rabbit_channel, topology, delivered)

        now = datetime.now(UTC)
        if (now + timedelta(seconds=30)).date() != now.date():
            pytest.skip("too close to midnight UTC for a reminder today")
        quiet = QuietHours(start=time((now.hour + 8) % 24), end=time((now.hour + 9) % 24))
        policy = example_policy().model_copy(update={"policy_id": "trace", "quiet_hours": quiet})
        await publish_event(
            rabbit_channel,
            topology,
            ClinicPolicyChanged(**new_envelope(), clinic_id=CLINIC, policy=policy),
        )
        await publish_event(
            rabbit_channel,
            topology,
            ClientPreferencesChanged(
                **new_envelope(),
                clinic_id=CLINIC,
                client_ref=CLIENT,
                version=1,
                timezone="UTC",
                channels=(Channel.SMS,),
                contacts=ContactPoints(sms=PHONE),
                consent=ChannelConsent(sms=True),
                quiet_hours=quiet,
            ),
        )
        await asyncio.sleep(1.0)  # policy and preferences land before the assignment
        reminder_at = (now + timedelta(seconds=6)).time().replace(microsecond=0)
        assignment = the_assignment(reminder_at, now.date())
        await ehr.publish(assignment)

        await wait_for(lambda: bool(twilio.messages), timeout=40)
        sms = twilio.messages[0]
        assert "traceparent=" in sms.status_callback
        assert await twilio.callback(sms, "delivered") == 204
        await wait_for(lambda: bool(delivered), timeout=20)
        assert delivered[0]["assignment_id"] == assignment.assignment_id

        def spans() -> tuple[ReadableSpan, ...]:
            return exporter.get_finished_spans()

        # The tracker's publish span ends after the broker confirmed it, a moment later.
        await wait_for(
            lambda: any(s.name.endswith(".reminder.delivered publish") for s in spans()), 10
        )

    assigned = one(spans(), "ehr", "activity.assigned", "publish")
    trace_id = assigned.context.trace_id
    in_trace = [s for s in spans() if s.context.trace_id == trace_id]
    steps = [
        one(in_trace, "scheduler", "activity.assigned", "process"),
        one(in_trace, "scheduler", "reminder.due", "publish"),
        one(in_trace, "notifier", "reminder.due", "process"),  # the send to Twilio
        one(in_trace, "notifier", "delivery.status.changed", "publish"),
        one(in_trace, "tracker", "delivery.status.changed", "process"),
        one(in_trace, "tracker", "reminder.delivered", "publish"),
    ]
    callback = [
        s
        for s in in_trace
        if s.resource.attributes.get(SERVICE_NAME) == "notifier"
        and s.name == "POST /webhooks/twilio/status"
    ]
    assert callback, sorted({s.name for s in in_trace})
    assert all(s.context.trace_id == trace_id for s in [*steps, *callback])
    services = {s.resource.attributes.get(SERVICE_NAME) for s in in_trace}
    assert {"scheduler", "notifier", "tracker"} <= services
    # The fired reminder continues the assignment's handling, not a trace of its own.
    assert steps[1].parent is not None
    assert steps[1].parent.span_id != 0
