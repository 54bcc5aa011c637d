"""A push subscription the push service says is gone (404/410): removed from the
directory, if it is still the client's, and announced as ``push.revoked`` (the tracker
counts it with the opt-outs). The EHR learns it from ``reminder.failed``'s reason when
push was the reminder's last channel, and a new subscription from the EHR restores push."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from notifier.directory import Directory
from notifier.keys import Keys
from notifier.providers.base import OutboundMessage, ProviderError
from notifier.providers.webpush import GONE_CODES
from shared.contracts import Channel, Event, PushSubscriptionRevoked, ReminderDue, derived_event_id
from shared.logging import get_logger
from shared.service import RedisClient

log = get_logger("notifier.push")


def is_gone(message: OutboundMessage, exc: ProviderError) -> bool:
    return message.channel is Channel.PUSH and exc.code in GONE_CODES


async def revoke(
    redis: RedisClient,
    keys: Keys,
    publish: Callable[[Event], Awaitable[None]],
    *,
    event: ReminderDue,
    message: OutboundMessage,
    provider: str,
    exc: ProviderError,
) -> None:
    """Announced once, by whoever removed it (a redelivery finds it removed already)."""
    sub = message.to_push
    if sub is None or not is_gone(message, exc):
        return
    directory = Directory(redis, keys.prefix)
    if not await directory.remove_push(event.clinic_id, event.client_ref, sub.endpoint):
        return
    log.info("push subscription revoked", reminder_id=event.reminder_id, status=exc.code)
    await publish(
        PushSubscriptionRevoked(
            **event.caused(),
            event_id=derived_event_id("push.revoked", event.clinic_id, event.reminder_id),
            client_ref=event.client_ref,
            reminder_id=event.reminder_id,
            provider=provider,
            status_code=int(exc.code or 410),
        )
    )
