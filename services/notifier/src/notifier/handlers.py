"""Message handlers: reminders to send, and the directory of contacts, clinic settings and
the assignment facts that stop reminders already on their way.

Messages about one client (clinic and client ref) are handled one at a time, in the
order they arrived, across both queues: a preferences change or a cancel applies before
a reminder that came after it. One exception: a reminder waiting for a rate token waits
outside its turn, so a completion, cancel or pause that arrives meanwhile still stops
it (it re-checks everything when its turn comes again).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from notifier.assignments import Change, Status, apply_completion, apply_lifecycle
from notifier.erasure import Erasure
from notifier.retention import CONTACTS
from notifier.runtime import Runtime
from shared.contracts import (
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityResumed,
    ClientErased,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    CompletionRecorded,
    ConsentChanged,
    ReminderDue,
)
from shared.erasure import erasure_report
from shared.logging import get_logger
from shared.service import Service
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, NOTIFIER_REMINDERS_QUEUE

Lifecycle = ActivityCancelled | ActivityPaused | ActivityResumed
Completion = ActivityCompleted | CompletionRecorded
Directory = ClientPreferencesChanged | ClinicPolicyChanged | ConsentChanged
DirectoryEvent = Directory | Lifecycle | Completion
DirectoryInput = Annotated[DirectoryEvent | ClientErased, Field(discriminator="type")]
ClientEvent = ReminderDue | ClientPreferencesChanged | ConsentChanged | Lifecycle | Completion

log = get_logger("notifier.handlers")


def register(service: Service, runtime: Runtime) -> None:
    @service.subscriber(NOTIFIER_REMINDERS_QUEUE, "Reminders that are due now.")
    async def on_reminder_due(event: ReminderDue) -> None:
        while True:
            async with runtime.order.turn(client_key(event)):
                wait = await runtime.dispatcher.handle(event)
                d = runtime.directory  # reminders keep the contact keys alive (retention.py)
                await CONTACTS.touch_daily(d.redis, d.keys, event.clinic_id, event.client_ref)
            if wait is None:
                return
            await asyncio.sleep(wait)

    @service.subscriber(
        NOTIFIER_DIRECTORY_QUEUE,
        "Contact points, consent, clinic messaging settings, and completions, cancels "
        "and pauses (they stop reminders already on their way).",
    )
    async def on_directory_event(event: DirectoryInput) -> None:
        if isinstance(event, ClientErased):
            await erased(service, runtime, event)
            return
        if isinstance(event, ClinicPolicyChanged):  # about no client in particular
            await apply_directory_event(runtime, event)
            return
        async with runtime.order.turn(client_key(event)):
            await apply_directory_event(runtime, event)


async def erased(service: Service, runtime: Runtime, event: ClientErased) -> None:
    """Delete what the notifier holds about the client (``erasure.py``), in the client's
    turn so no change of its interleaves, then report the counts to the tracker."""
    async with runtime.order.turn(f"{event.clinic_id}/{event.client_ref}"):
        counts = await Erasure(service.store, service.key()).erase(event)
    await service.publisher.publish(erasure_report(event, "notifier", counts))
    log.info("client erased", deleted=sum(counts.values()))


def client_key(event: ClientEvent) -> str:
    """The turn a message about a client takes (ids are per clinic)."""
    return f"{event.clinic_id}/{event.client_ref}"


async def apply_directory_event(runtime: Runtime, event: DirectoryEvent) -> None:
    directory = runtime.directory
    if isinstance(event, ClientPreferencesChanged):
        stored = await directory.save_preferences(event)
        log.info("preferences", client_ref=event.client_ref, version=event.version, stored=stored)
    elif isinstance(event, ClinicPolicyChanged):
        stored = await directory.save_policy(event.clinic_id, event.policy)
        log.info("clinic policy", policy_id=event.policy.policy_id, stored=stored)
    elif isinstance(event, ConsentChanged):
        await directory.set_opt_out(
            event.clinic_id, event.client_ref, event.channel, event.opted_out
        )
        log.info("consent", client_ref=event.client_ref, channel=event.channel.value)
    else:
        stored = await runtime.assignments.update(
            event.clinic_id, event.client_ref, event.assignment_id, assignment_change(event)
        )
        log.info("assignment", assignment_id=event.assignment_id, stored=stored)
    if isinstance(event, ClientPreferencesChanged | ConsentChanged):
        # The contact keys live a full CONTACT_TTL_SECONDS from now (``retention.py``).
        await CONTACTS.touch(directory.redis, directory.keys, event.clinic_id, event.client_ref)


def assignment_change(event: Lifecycle | Completion, today: datetime | None = None) -> Change:
    """The pure change an assignment event makes to the notifier's record of it."""
    if isinstance(event, ActivityCompleted | CompletionRecorded):
        day, now = event.occurrence_date, (today or datetime.now(UTC)).date()
        return lambda state: apply_completion(state, day, now)
    if isinstance(event, ActivityCancelled):
        return lambda state: apply_lifecycle(state, event.version, Status.CANCELLED)
    if isinstance(event, ActivityPaused):
        return lambda state: apply_lifecycle(state, event.version, Status.PAUSED, event.until)
    return lambda state: apply_lifecycle(state, event.version, Status.ACTIVE)
