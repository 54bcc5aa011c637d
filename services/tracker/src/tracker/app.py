"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityUpdated,
    AdherenceSummary,
    ClientErased,
    ClientErasureCompleted,
    ClinicianAlert,
    ClinicPolicyChanged,
    CompletionRecorded,
    ReminderDelivered,
    ReminderDue,
    ReminderFailed,
)
from shared.service import Service, create_http_app
from shared.topology import TRACKER_FHIR_QUEUE, TRACKER_QUEUE
from tracker import handlers
from tracker.console.adherence import adherence_router
from tracker.console.assets import assets_router
from tracker.console.dead_letters import dead_letters_router
from tracker.console.erasure import erasure_router
from tracker.console.policies import policies_router
from tracker.console.timeline import timeline_router
from tracker.dashboard import dashboard_router
from tracker.fhir import reporter as fhir_reporter
from tracker.fhir.routes import fhir_router
from tracker.links import done_router
from tracker.runtime import Runtime
from tracker.settings import TrackerSettings

NAME = "tracker"


def build(settings: TrackerSettings | None = None) -> tuple[Service, Runtime]:
    """The service and the runtime its handlers and routes share."""
    settings = settings or TrackerSettings()
    # The FHIR reporter's queue exists only where a FHIR server is configured.
    fhir_out = bool(settings.fhir_base_url)
    service = Service(
        name=NAME,
        settings=settings,
        consumes=(TRACKER_QUEUE, TRACKER_FHIR_QUEUE) if fhir_out else (TRACKER_QUEUE,),
        publishes=(
            CompletionRecorded,
            ReminderDelivered,
            ReminderFailed,
            AdherenceSummary,
            ClinicianAlert,
            ReminderDue,  # encouragement messages travel to the notifier as reminders
            ClinicPolicyChanged,  # a policy saved in the console, inbound as the EHR's
            ClientErasureCompleted,
            ClientErased,  # the console's erase action, inbound as the EHR's
            # FHIR Tasks (tracker/fhir/), inbound as the EHR's own events.
            ActivityAssigned,
            ActivityUpdated,
            ActivityCancelled,
            ActivityPaused,
            ActivityCompleted,
        ),
    )
    runtime = Runtime(settings)
    service.on_start.append(runtime.start)
    service.on_stop.append(runtime.stop)
    handlers.register(service, runtime)
    if fhir_out:
        fhir_reporter.register(service, settings)
    return service, runtime


def create_service(settings: TrackerSettings | None = None) -> Service:
    return build(settings)[0]


def create_app(settings: TrackerSettings | None = None) -> FastAPI:
    service, runtime = build(settings)
    app = create_http_app(service)
    app.state.runtime = runtime
    app.include_router(done_router(runtime))
    app.include_router(dashboard_router(runtime))
    app.include_router(assets_router())
    # Console pages and their APIs (one router per page; see tracker/console/).
    app.include_router(timeline_router(runtime))
    app.include_router(dead_letters_router(runtime))
    app.include_router(policies_router(runtime, service.publisher))
    app.include_router(erasure_router(service.publisher))
    app.include_router(adherence_router(runtime))
    app.include_router(fhir_router(runtime, service.publisher))
    return app
