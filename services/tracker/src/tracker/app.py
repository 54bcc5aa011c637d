"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from shared.contracts import (
    AdherenceSummary,
    ClinicianAlert,
    CompletionRecorded,
    ReminderDelivered,
    ReminderDue,
    ReminderFailed,
)
from shared.logging import get_logger
from shared.service import Service, create_http_app
from shared.topology import TRACKER_QUEUE
from tracker import handlers
from tracker.dashboard import dashboard_router
from tracker.links import done_router
from tracker.runtime import TrackerRuntime
from tracker.settings import TrackerSettings

NAME = "tracker"
log = get_logger("tracker.app")


def build(settings: TrackerSettings | None = None) -> tuple[Service, TrackerRuntime]:
    """The service and the runtime its handlers and routes share."""
    settings = settings or TrackerSettings()
    service = Service(
        name=NAME,
        settings=settings,
        consumes=(TRACKER_QUEUE,),
        publishes=(
            CompletionRecorded,
            ReminderDelivered,
            ReminderFailed,
            AdherenceSummary,
            ClinicianAlert,
            ReminderDue,  # encouragement messages travel to the notifier as reminders
        ),
    )
    runtime = TrackerRuntime(service, settings)
    handlers.register(service, runtime)
    service.on_start.append(lambda _: _start(runtime))
    service.on_stop.append(lambda _: runtime.queues.close())
    return service, runtime


async def _start(runtime: TrackerRuntime) -> None:
    runtime.start()
    runtime.service.spawn(_escalation_loop(runtime), "escalation")


async def _escalation_loop(runtime: TrackerRuntime) -> None:
    """Misses happen by time passing, not by a message: check every active assignment."""
    while True:
        await asyncio.sleep(runtime.settings.escalation_interval_seconds)
        try:
            await runtime.recorder.sweep_escalations()
        except Exception:  # a Redis or broker hiccup: try again next round
            log.exception("escalation sweep failed")


def create_service(settings: TrackerSettings | None = None) -> Service:
    return build(settings)[0]


def create_app(settings: TrackerSettings | None = None) -> FastAPI:
    service, runtime = build(settings)
    app = create_http_app(service)
    app.state.runtime = runtime
    app.include_router(done_router(runtime))
    app.include_router(dashboard_router(runtime))
    return app
