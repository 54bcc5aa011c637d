"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from notifier import email_events, handlers, vonage_webhooks, webhooks
from notifier.providers.registry import GivenProviders
from notifier.runtime import Runtime
from notifier.settings import NotifierSettings
from shared.contracts import (
    ClientErasureReported,
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    PushSubscriptionRevoked,
)
from shared.service import Service, create_http_app
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, NOTIFIER_REMINDERS_QUEUE

NAME = "notifier"


def create_service(settings: NotifierSettings | None = None) -> Service:
    return build(settings)[0]


def build(
    settings: NotifierSettings | None = None, providers: GivenProviders | None = None
) -> tuple[Service, Runtime]:
    """The service and its runtime; tests may pass their own providers."""
    settings = settings or NotifierSettings()
    service = Service(
        name=NAME,
        settings=settings,
        consumes=(NOTIFIER_REMINDERS_QUEUE, NOTIFIER_DIRECTORY_QUEUE),
        publishes=(
            NotificationDispatched,
            NotificationFailed,
            NotificationSuppressed,
            DeliveryStatusChanged,
            ConsentChanged,
            CompletionReported,
            PushSubscriptionRevoked,
            ClientErasureReported,
        ),
    )
    runtime = Runtime(settings, given=providers)
    service.on_start.append(runtime.start)
    service.on_stop.append(runtime.stop)
    handlers.register(service, runtime)
    return service, runtime


def create_app(
    settings: NotifierSettings | None = None, providers: GivenProviders | None = None
) -> FastAPI:
    service, runtime = build(settings, providers)
    app = create_http_app(service)
    webhooks.add_routes(app, service, runtime)
    email_events.add_routes(app, service, runtime)
    vonage_webhooks.add_routes(app, service, runtime)
    return app
