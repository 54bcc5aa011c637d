"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

from fastapi import FastAPI

from scheduler import handlers
from scheduler.runtime import Runtime
from scheduler.settings import SchedulerSettings
from shared.contracts import (
    ClientErasureReported,
    ClientPlansChanged,
    ReminderDue,
    SchedulerBacklogReported,
)
from shared.service import Service, create_http_app
from shared.topology import SCHEDULER_QUEUE

NAME = "scheduler"


def build(settings: SchedulerSettings | None = None) -> tuple[Service, Runtime]:
    """The service and the runtime its handlers share."""
    settings = settings or SchedulerSettings()
    service = Service(
        name=NAME,
        settings=settings,
        consumes=(SCHEDULER_QUEUE,),
        publishes=(
            ReminderDue,
            SchedulerBacklogReported,
            ClientPlansChanged,
            ClientErasureReported,
        ),
    )
    runtime = Runtime(settings)
    service.on_start.append(runtime.start)
    service.on_stop.append(runtime.stop)
    handlers.register(service, runtime)
    return service, runtime


def create_service(settings: SchedulerSettings | None = None) -> Service:
    return build(settings)[0]


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    return create_http_app(build(settings)[0])
