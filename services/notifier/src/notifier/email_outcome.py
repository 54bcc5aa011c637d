"""What a mail system tells us about one of our emails, and what the notifier does with
it: the status for the tracker (``delivery.status.changed``, provider-neutral), and for a
hard bounce or a spam complaint no more email to that address (``Directory.stop_address``);
a complaint is also the person's own opt-out, announced as ``consent.changed`` per client
that gave the address, as an SMS STOP is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from notifier.directory import Directory, EmailStop, NumberOwner
from notifier.providers.smtp import EmailRef, SmtpProvider
from shared.contracts import Channel, ConsentChanged, DeliveryStatus, DeliveryStatusChanged, Event
from shared.logging import get_logger

log = get_logger("notifier.email")
Publish = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class EmailOutcome:
    """One report about one email (a recipient's line of a DSN, one SendGrid event)."""

    ref: EmailRef
    status: DeliveryStatus | None  # None: nothing for the tracker (a complaint's repeat)
    address: str | None = None  # never logged
    error_code: str | None = None  # e.g. "bounce:5.1.1", "dsn:5.1.1", "dropped"
    stop: EmailStop | None = None
    at: datetime | None = None  # when the mail system saw it


async def record(outcome: EmailOutcome, directory: Directory, publish: Publish) -> None:
    """Stop the address first (the next send must not go out while the news travels),
    then tell the tracker."""
    ref = outcome.ref
    if outcome.stop is not None and outcome.address:
        owners = await directory.stop_address(outcome.address, outcome.stop)
        if outcome.stop == "complained":
            await _announce_opt_out(owners, ref, publish)
        log.info("email address stopped", reason=outcome.stop, owners=len(owners))
    if outcome.status is None:
        return
    try:
        status = DeliveryStatusChanged(
            clinic_id=ref.clinic_id,
            provider=SmtpProvider.name,
            provider_message_id=(ref.message_id or ref.reminder_id)[:256],
            reminder_id=ref.reminder_id,
            channel=Channel.EMAIL,
            status=outcome.status,
            error_code=outcome.error_code[:64] if outcome.error_code else None,
            reported_at=outcome.at or datetime.now(UTC),
        )
    except ValidationError:
        # Ids that are no ids of ours (a mangled header): skipped, not failed, or the
        # sender would retry the whole batch for days.
        log.warning("email event with unusable ids skipped")
        return
    await publish(status)


async def _announce_opt_out(owners: list[NumberOwner], ref: EmailRef, publish: Publish) -> None:
    for owner in owners:
        await publish(
            ConsentChanged(
                clinic_id=owner.clinic_id,
                client_ref=owner.client_ref,
                channel=Channel.EMAIL,
                opted_out=True,
                source="email_complaint",
            )
        )
    if not owners:
        log.warning("spam complaint for an address no client gave", reminder_id=ref.reminder_id)
