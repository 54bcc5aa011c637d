"""Message handlers: reminders to send, and the directory of contacts and clinic settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from notifier.runtime import Runtime
from shared.contracts import (
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ConsentChanged,
    ReminderDue,
)
from shared.logging import get_logger
from shared.service import Service
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, NOTIFIER_REMINDERS_QUEUE

DirectoryInput = Annotated[
    ClientPreferencesChanged | ClinicPolicyChanged | ConsentChanged, Field(discriminator="type")
]

log = get_logger("notifier.handlers")


def register(service: Service, runtime: Runtime) -> None:
    @service.subscriber(NOTIFIER_REMINDERS_QUEUE, "Reminders that are due now.")
    async def on_reminder_due(event: ReminderDue) -> None:
        await runtime.dispatcher.handle(event)

    @service.subscriber(
        NOTIFIER_DIRECTORY_QUEUE, "Contact points, consent and clinic messaging settings."
    )
    async def on_directory_event(event: DirectoryInput) -> None:
        await apply_directory_event(runtime, event)


async def apply_directory_event(
    runtime: Runtime, event: ClientPreferencesChanged | ClinicPolicyChanged | ConsentChanged
) -> None:
    directory = runtime.directory
    if isinstance(event, ClientPreferencesChanged):
        stored = await directory.save_preferences(event)
        log.info("preferences", client_ref=event.client_ref, version=event.version, stored=stored)
    elif isinstance(event, ClinicPolicyChanged):
        stored = await directory.save_policy(event.clinic_id, event.policy)
        log.info("clinic policy", policy_id=event.policy.policy_id, stored=stored)
    else:
        await directory.set_opt_out(
            event.clinic_id, event.client_ref, event.channel, event.opted_out
        )
        log.info("consent", client_ref=event.client_ref, channel=event.channel.value)
