"""Message handlers: validate (by type), apply to the client's state, re-plan its timers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import Field

from scheduler.announce import Cause
from scheduler.erasure import erase_client
from scheduler.replan import Replanner, client_key, policy_key
from scheduler.runtime import Runtime
from scheduler.state import (
    Prefs,
    Status,
    apply_assignment,
    apply_completion,
    apply_consent,
    apply_lifecycle,
    apply_prefs,
    as_assigned,
)
from scheduler.store import AlreadyHandled, EventRef
from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityResumed,
    ActivityUpdated,
    ClientErased,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    CompletionRecorded,
    ConsentChanged,
)
from shared.contracts.vocabulary import Channel
from shared.erasure import erasure_report
from shared.errors import PermanentError, TransientError
from shared.handling import add_to_summary
from shared.planning.ids import assignment_key
from shared.planning.rules import never_occurs
from shared.service import Service
from shared.topology import SCHEDULER_QUEUE
from shared.tracing import current_traceparent

SchedulerInput = Annotated[
    ActivityAssigned
    | ActivityUpdated
    | ActivityCancelled
    | ActivityPaused
    | ActivityResumed
    | ActivityCompleted
    | ClientPreferencesChanged
    | ClinicPolicyChanged
    | CompletionRecorded
    | ConsentChanged
    | ClientErased,
    Field(discriminator="type"),
]


def register(service: Service, runtime: Runtime) -> None:
    @service.subscriber(
        SCHEDULER_QUEUE, "Assignment lifecycle, client preferences and clinic policies."
    )
    async def on_event(event: SchedulerInput) -> None:
        if isinstance(event, ClientErased):
            await erased(service, runtime, event)
            return
        try:
            async with runtime.order.turn(_order_key(event)):
                changed = await handle(runtime.replanner, event)
        except AlreadyHandled:
            add_to_summary(duplicate=True)
            return
        await runtime.replanner.store.mark_seen(*once(event))
        add_to_summary(changed=changed)


async def erased(service: Service, runtime: Runtime, event: ClientErased) -> None:
    """Delete the client's data, in its turn, then report the counts to the tracker."""
    async with runtime.order.turn(_order_key(event)):
        counts = await erase_client(runtime.replanner, event)
    await service.publisher.publish(erasure_report(event, "scheduler", counts))
    add_to_summary(erased=sum(counts.values()))


def _order_key(event: SchedulerInput) -> str:
    """Events of one client in arrival order; a policy change has a turn of its own."""
    if isinstance(event, ClinicPolicyChanged):
        return f"{event.clinic_id}/policy/{event.policy.policy_id}"
    return f"{event.clinic_id}/{event.client_ref}"


def once(event: SchedulerInput) -> EventRef:
    """The event's idempotency key: ids are the EHR's, so unique only per clinic."""
    return (event.clinic_id, str(event.event_id))


async def handle(replanner: Replanner, event: SchedulerInput) -> bool:  # noqa: PLR0911
    """One branch per input event type; True if the client's plan changed. Raises
    ``AlreadyHandled`` for an event handled before (checked as the client is loaded)."""
    match event:
        case ActivityAssigned() | ActivityUpdated():
            return await _assignment(replanner, event)
        case ActivityCancelled():
            return await _lifecycle(replanner, event, Status.CANCELLED)
        case ActivityPaused():
            return await _lifecycle(replanner, event, Status.PAUSED, event.until)
        case ActivityResumed():
            return await _lifecycle(replanner, event, Status.ACTIVE)
        case ActivityCompleted() | CompletionRecorded():
            return await _completion(replanner, event)
        case ClientPreferencesChanged():
            return await _preferences(replanner, event)
        case ConsentChanged():
            return await _consent(replanner, event)
        case ClinicPolicyChanged():
            return await _policy(replanner, event)
        case ClientErased():
            return False  # not a change to plan: ``erased`` deletes the client instead


async def _assignment(replanner: Replanner, event: ActivityAssigned | ActivityUpdated) -> bool:
    assigned = as_assigned(event)
    pkey = policy_key(event.clinic_id, event.policy_id)
    policy = await replanner.store.policy(pkey)
    if policy is None:
        # Policies and assignments may race at start-up: retry a few times; the retry
        # budget then dead-letters the event with this reason.
        raise TransientError(f"unknown policy {event.policy_id!r} for clinic {event.clinic_id!r}")
    if never_occurs(assigned, policy):
        raise PermanentError("schedule has no occurrence at all (check rrule, start and end)")
    ckey = client_key(event.clinic_id, event.client_ref)
    akey = assignment_key(event.clinic_id, event.assignment_id)
    trace = current_traceparent()  # this handling's span: the reminders continue it
    return await replanner.change(
        ckey,
        lambda s: apply_assignment(s, akey, assigned, trace),
        Cause.of(event),
        uses={pkey: policy},
        event=once(event),
    )


async def _lifecycle(
    replanner: Replanner,
    event: ActivityCancelled | ActivityPaused | ActivityResumed,
    status: Status,
    until: date | None = None,
) -> bool:
    akey = assignment_key(event.clinic_id, event.assignment_id)
    return await replanner.change(
        client_key(event.clinic_id, event.client_ref),
        lambda s: apply_lifecycle(s, akey, event.version, status, until),
        Cause.of(event),
        event=once(event),
    )


async def _completion(replanner: Replanner, event: ActivityCompleted | CompletionRecorded) -> bool:
    akey = assignment_key(event.clinic_id, event.assignment_id)
    today = datetime.now(UTC).date()
    return await replanner.change(
        client_key(event.clinic_id, event.client_ref),
        lambda s: apply_completion(s, akey, event.occurrence_date, today),
        Cause.of(event),
        event=once(event),
    )


async def _preferences(replanner: Replanner, event: ClientPreferencesChanged) -> bool:
    prefs = Prefs(
        version=event.version,
        timezone=event.timezone,
        quiet_hours=event.quiet_hours,
        opted_out=event.opted_out,
        consent={ch: event.consent.allows(ch) for ch in Channel},
    )
    return await replanner.change(
        client_key(event.clinic_id, event.client_ref),
        lambda s: apply_prefs(s, prefs),
        Cause.of(event),
        event=once(event),
    )


async def _consent(replanner: Replanner, event: ConsentChanged) -> bool:
    return await replanner.change(
        client_key(event.clinic_id, event.client_ref),
        lambda s: apply_consent(s, event.channel, event.opted_out),
        Cause.of(event),
        event=once(event),
    )


async def _policy(replanner: Replanner, event: ClinicPolicyChanged) -> bool:
    if await replanner.store.seen(*once(event)):  # no client state to check it with
        raise AlreadyHandled(once(event))
    pkey = policy_key(event.clinic_id, event.policy.policy_id)
    current = await replanner.store.policy(pkey)
    if current is not None and current.version >= event.policy.version:
        # A redelivery of the event that stored it (a re-plan failed, or the replica
        # died before announcing): re-plan every user again and queue their plans.
        if current.version > event.policy.version:
            return False
        if await replanner.store.stored_by(pkey) != str(event.event_id):
            return False
    else:
        await replanner.store.put_policy(pkey, event.policy, str(event.event_id))
    cause = Cause.of(event, "policy.changed")
    for ckey in await replanner.store.policy_users(pkey):
        if not await replanner.store.redis.exists(_client_state(replanner, ckey)):
            # Erased or forgotten when idle (``retention.py``): no longer a user.
            await replanner.store.redis.srem(replanner.store.keys.policy_users(pkey), ckey)
            continue
        await replanner.replan(ckey, cause, always_announce=True)
    return True


def _client_state(replanner: Replanner, ckey: str) -> str:
    keys = replanner.store.keys
    return keys.shard(keys.shard_of(ckey)).client(ckey)
