"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from scheduler import handlers
from scheduler.settings import SchedulerSettings
from shared.contracts import ReminderDue, SchedulerBacklogReported
from shared.service import Service, create_http_app
from shared.topology import SCHEDULER_QUEUE

NAME = "scheduler"


def create_service(settings: SchedulerSettings | None = None) -> Service:
    service = Service(
        name=NAME,
        settings=settings or SchedulerSettings(),
        consumes=(SCHEDULER_QUEUE,),
        publishes=(ReminderDue, SchedulerBacklogReported),
    )
    handlers.register(service)
    return service


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    return create_http_app(create_service(settings))
