"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts import (
    AdherenceSummary,
    ClinicianAlert,
    CompletionRecorded,
    ReminderDelivered,
    ReminderDue,
    ReminderFailed,
)
from shared.service import Service, create_http_app
from shared.topology import TRACKER_QUEUE
from tracker import handlers
from tracker.settings import TrackerSettings

NAME = "tracker"


def create_service(settings: TrackerSettings | None = None) -> Service:
    service = Service(
        name=NAME,
        settings=settings or TrackerSettings(),
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
    handlers.register(service)
    return service


def create_app(settings: TrackerSettings | None = None) -> FastAPI:
    return create_http_app(create_service(settings))
