"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from notifier import handlers
from notifier.settings import NotifierSettings
from shared.contracts import (
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
)
from shared.service import Service, create_http_app
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, NOTIFIER_REMINDERS_QUEUE

NAME = "notifier"


def create_service(settings: NotifierSettings | None = None) -> Service:
    service = Service(
        name=NAME,
        settings=settings or NotifierSettings(),
        consumes=(NOTIFIER_REMINDERS_QUEUE, NOTIFIER_DIRECTORY_QUEUE),
        publishes=(
            NotificationDispatched,
            NotificationFailed,
            NotificationSuppressed,
            DeliveryStatusChanged,
            ConsentChanged,
            CompletionReported,
        ),
    )
    handlers.register(service)
    return service


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    return create_http_app(create_service(settings))
