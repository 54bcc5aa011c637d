"""A provider's status callback, whichever provider, as ``delivery.status.changed``.

Each provider's webhook parses its own shape into a ``StatusReport`` (Twilio's form,
Vonage's JSON) and maps its words to our ``DeliveryStatus``; placing the message (the
clinic and the EHR's correlation id) and announcing it is the same for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.callback_url import CallbackRef
from notifier.runtime import Runtime
from shared.contracts import Channel, DeliveryStatus, DeliveryStatusChanged
from shared.service import Service


@dataclass(frozen=True)
class StatusReport:
    provider: str
    provider_message_id: str
    status: DeliveryStatus
    error_code: str | None = None
    ref: CallbackRef | None = None  # the reminder the callback URL names
    phone: str | None = None  # the recipient, to place a message no URL names


async def announce_status(service: Service, runtime: Runtime, report: StatusReport) -> None:
    clinic_id, correlation = await origin(runtime, report.ref, report.phone)
    code = report.error_code
    for reminder_id in await carried(runtime, clinic_id, report.ref):
        await service.publisher.publish(
            DeliveryStatusChanged(
                clinic_id=clinic_id,
                **correlation,
                provider=report.provider,
                provider_message_id=report.provider_message_id[:256],
                reminder_id=reminder_id,
                channel=Channel.SMS,
                status=report.status,
                error_code=code[:64] if code else None,
                reported_at=datetime.now(UTC),
            )
        )


async def carried(runtime: Runtime, clinic_id: str, ref: CallbackRef | None) -> list[str | None]:
    """The reminders the message carried: the one its callback URL names and, for a
    digest (one message for several reminders), the others its send recorded."""
    if ref is None:
        return [None]
    # One reminder, as the URL says: no lookup. A URL of a release before the client was
    # named in it cannot be looked up (nor was it a digest).
    if ref.carries == 1 or ref.client_ref is None:
        return [ref.reminder_id]
    store = runtime.dispatcher.store
    found = await store.digest_members(clinic_id, ref.client_ref, ref.reminder_id)
    return [*found] or [ref.reminder_id]


async def origin(
    runtime: Runtime, ref: CallbackRef | None, phone: str | None
) -> tuple[str, dict[str, str]]:
    """The clinic and the EHR's correlation id a status callback belongs to: those of the
    reminder the message carried; for a message we cannot place, the number's only
    owner's clinic (or ``system``) and a fresh correlation id."""
    if ref is not None and ref.clinic_id:
        correlation = {"correlation_id": ref.correlation_id} if ref.correlation_id else {}
        return ref.clinic_id, correlation
    owners = await runtime.directory.number_owners(phone) if phone else []
    return (owners[0].clinic_id if len(owners) == 1 else "system"), {}
