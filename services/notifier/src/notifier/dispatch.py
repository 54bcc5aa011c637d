"""Sending one due reminder: re-check, deduplicate, pick a channel, send, fail over.

At send time the opt-out, consent and quiet hours are checked again (they may have
changed since the scheduler planned the reminder). Quiet hours that end within
``quiet_defer_max_seconds`` defer the reminder (``notification.suppressed`` with
``deferred_until``, then a delayed re-delivery); longer ones drop it with the reason
``quiet_hours`` (the scheduler plans around quiet hours, so only a late reminder
lands here, and a reminder hours late is noise, not help).

A reminder may have waited (in the queue, deferred, for a rate-limit token, in a retry
tier) while its occurrence was done or its assignment cancelled or paused: that is
checked when it is handled and again right before each provider call, and it is then
suppressed with the reason. Right before the first provider call it also takes a slot
of the client's caps (``caps``); over a cap it is suppressed with ``cap``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from notifier import metrics
from notifier.assignment_store import AssignmentStore
from notifier.assignments import stop_reason
from notifier.caps import CapBook, period
from notifier.channels import plan_channels
from notifier.compose import DoneLink, LinkConfig, build_message, done_link, render_reminder
from notifier.directory import Directory, LastReminder, SentMessage
from notifier.ledger import Ledger, SentRecord
from notifier.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from notifier.providers.twilio import UNSUBSCRIBED_CODE
from notifier.resilience import CircuitBreaker, RateLimiter, burst_for
from notifier.templates import Rendered
from shared.contracts import (
    Caps,
    Channel,
    ClientPreferencesChanged,
    ClinicPolicy,
    Event,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    ReminderDue,
    ReminderPurpose,
    SuppressionReason,
    derived_event_id,
)
from shared.errors import PermanentError, TransientError
from shared.logging import get_logger
from shared.quiet_hours import end_of_quiet, quiet_at

log = get_logger("notifier.dispatch")
Publish = Callable[[Event], Awaitable[None]]


class Stopped(Exception):
    """The reminder must not be sent after all (its occurrence was done, or its
    assignment cancelled or paused, while it waited)."""

    def __init__(self, reason: SuppressionReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass
class Attempt:
    """One delivery's hold on a reminder: its lease token, its done link, and whether its
    provider call outlived a cancelled handler (the call then settles the lease itself)."""

    token: str
    link: DoneLink | None = None
    orphaned: bool = False


@dataclass(frozen=True)
class Limits:
    rates: dict[Channel, float]
    rate_wait_max: float
    quiet_defer_max: float


@dataclass
class Dispatcher:
    directory: Directory
    ledger: Ledger
    assignments: AssignmentStore
    caps: CapBook
    limiter: RateLimiter
    breaker: CircuitBreaker
    providers: dict[Channel, Provider]
    publish: Publish
    links: LinkConfig
    limits: Limits

    async def handle(self, event: ReminderDue, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        clinic, rid = event.clinic_id, event.reminder_id
        if (record := await self.ledger.sent(clinic, rid)) is not None:
            # Announce it again: the first delivery may have stopped between recording
            # the send and publishing (the tracker takes a repeated announcement as one).
            log.info("duplicate reminder: already sent", reminder_id=rid)
            await self.publish(_dispatched(event, record))
            return
        if reason := await self._stop_reason(event):
            await self._suppress(event, reason)
            return
        prefs = await self.directory.preferences(clinic, event.client_ref)
        policy = await self.directory.policy(clinic, event.policy_id)
        if prefs is not None and await self._quiet(event, prefs, policy, now):
            return
        token = await self.ledger.claim(clinic, rid)
        if token is None:  # another delivery of this reminder is being sent right now
            raise TransientError("send in progress", retry_after=await self._lease(event))
        attempt = Attempt(token, done_link(event, self.links, now))
        try:
            await self._send_first_allowed(event, prefs, policy, attempt, now)
        except Stopped as stop:
            await self._suppress(event, stop.reason)
        finally:
            # A provider call that outlived a cancelled handler still holds the lease: it
            # records the send and releases it, so a redelivery meanwhile cannot resend.
            if not attempt.orphaned:
                await self.ledger.release(clinic, rid, token)

    async def _stop_reason(self, event: ReminderDue) -> SuppressionReason | None:
        state = await self.assignments.state(event.clinic_id, event.assignment_id)
        return stop_reason(state, event.assignment_version, event.occurrence_date, event.purpose)

    async def _suppress(self, event: ReminderDue, reason: SuppressionReason) -> None:
        """The reminder is not sent, for good; announced once."""
        log.info("suppressed", reminder_id=event.reminder_id, reason=reason.value)
        if await self.ledger.once(event.clinic_id, event.reminder_id, "suppressed"):
            await self.publish(_suppressed(event, reason))

    async def _lease(self, event: ReminderDue) -> float:
        return await self.ledger.lease_left(event.clinic_id, event.reminder_id) + 0.5

    async def _quiet(
        self,
        event: ReminderDue,
        prefs: ClientPreferencesChanged,
        policy: ClinicPolicy | None,
        now: datetime,
    ) -> bool:
        window = prefs.quiet_hours or (policy.quiet_hours if policy else None)
        if window is None or not quiet_at(now, prefs.timezone, window):
            return False
        until = end_of_quiet(now, prefs.timezone, window)
        wait = (until - now).total_seconds()
        deferred = wait <= self.limits.quiet_defer_max
        if await self.ledger.once(event.clinic_id, event.reminder_id, "quiet"):
            deferred_until = until if deferred else None
            await self.publish(_suppressed(event, SuppressionReason.QUIET_HOURS, deferred_until))
        if deferred:
            raise TransientError("inside quiet hours", retry_after=wait)
        log.info("dropped: inside quiet hours", reminder_id=event.reminder_id)
        return True

    async def _blocked(self, event: ReminderDue, prefs: ClientPreferencesChanged) -> set[Channel]:
        blocked = await self.directory.opted_out(event.clinic_id, event.client_ref)
        if prefs.contacts.sms and await self.directory.number_stopped(prefs.contacts.sms):
            blocked.add(Channel.SMS)
        return blocked

    async def _send_first_allowed(
        self,
        event: ReminderDue,
        prefs: ClientPreferencesChanged | None,
        policy: ClinicPolicy | None,
        attempt: Attempt,
        now: datetime,
    ) -> None:
        blocked = await self._blocked(event, prefs) if prefs else set()
        failed = await self.ledger.failed_channels(event.clinic_id, event.reminder_id)
        clinic_channels = policy.channels if policy else None
        plan = plan_channels(prefs, clinic_channels, blocked, failed)
        if not plan.channels or prefs is None:
            await self._nothing_to_send(event, plan.reason, failed)
            return
        caps = policy.caps if policy else Caps()
        at = period(now, prefs.timezone)
        if not await self.caps.reserve(
            event.clinic_id, event.client_ref, event.reminder_id, at, caps
        ):
            await self._suppress(event, SuppressionReason.CAP)
            return
        rendered = render_reminder(event, prefs, policy, attempt.link)
        try:
            for channel in plan.channels:
                if await self._try(event, channel, prefs, rendered, attempt):
                    return
        except Stopped:
            await self._release_slot(event)
            raise
        await self._release_slot(event)  # nothing was sent: the slot is free again
        await self._nothing_to_send(event, None, {*failed, *plan.channels})

    async def _release_slot(self, event: ReminderDue) -> None:
        await self.caps.release(event.clinic_id, event.client_ref, event.reminder_id)

    async def _nothing_to_send(
        self, event: ReminderDue, reason: SuppressionReason | None, failed: set[Channel]
    ) -> None:
        if failed:
            await self.publish(
                self._failed(event, None, None, "every allowed channel failed", True)
            )
            raise PermanentError("every allowed channel failed permanently")
        await self._suppress(event, reason or SuppressionReason.NO_CONTACT)

    async def _try(
        self,
        event: ReminderDue,
        channel: Channel,
        prefs: ClientPreferencesChanged,
        rendered: Rendered,
        attempt: Attempt,
    ) -> bool:
        """True when sent; False after a permanent failure (fail over); raises otherwise."""
        provider = self.providers[channel]
        await self._admit(provider, channel)
        # The wait for a token (or for this reminder's turn) may have been long enough
        # for a completion, cancel or pause to arrive: the last look before sending.
        if reason := await self._stop_reason(event):
            raise Stopped(reason)
        phone = prefs.contacts.sms if channel is Channel.SMS else None
        first_sms = bool(phone) and not await self.directory.has_messaged(
            event.clinic_id, phone or ""
        )
        message = build_message(
            event,
            channel=channel,
            prefs=prefs,
            rendered=rendered,
            links=self.links,
            link=attempt.link,
            first_sms=first_sms,
        )
        sending = asyncio.ensure_future(
            self._send_and_record(
                event,
                channel=channel,
                provider=provider,
                message=message,
                attempt=attempt,
                phone=phone,
            )
        )
        try:
            # Shielded: losing the broker connection cancels running handlers, and a
            # provider call cancelled before its answer is recorded would be sent again
            # by the redelivery. It finishes on its own and records what the provider said.
            result = await asyncio.shield(sending)
        except ProviderError as exc:
            outcome = "permanent_failure" if exc.permanent else "transient_failure"
            metrics.SENDS.labels(channel.value, provider.name, outcome).inc()
            return await self._provider_failed(event, channel, provider, exc, phone)
        except asyncio.CancelledError:
            if not sending.done():
                attempt.orphaned = True
                sending.add_done_callback(partial(_orphan_finished, event.reminder_id))
            raise
        metrics.SENDS.labels(channel.value, provider.name, "sent").inc()
        await self.breaker.record_success(provider.name)
        await self.publish(_dispatched(event, _record(event, channel, provider, result, attempt)))
        return True

    async def _send_and_record(
        self,
        event: ReminderDue,
        *,
        channel: Channel,
        provider: Provider,
        message: OutboundMessage,
        attempt: Attempt,
        phone: str | None,
    ) -> SendResult:
        try:
            with metrics.SEND_SECONDS.labels(provider.name).time():
                result = await provider.send(message)
        except BaseException:
            if attempt.orphaned:  # its handler is gone: free the lease
                await self.ledger.release(event.clinic_id, event.reminder_id, attempt.token)
            raise
        await self._record_sent(
            event,
            record=_record(event, channel, provider, result, attempt),
            token=attempt.token,
            phone=phone,
        )
        return result

    async def _admit(self, provider: Provider, channel: Channel) -> None:
        """Circuit breaker, then the shared rate limit; waits only briefly for a token."""
        open_for = await self.breaker.open_for_seconds(provider.name)
        if open_for > 0:
            raise TransientError(f"{provider.name} circuit open", retry_after=open_for)
        rate = self.limits.rates[channel]
        burst = burst_for(rate)
        while (wait := await self.limiter.acquire(provider.rate_key, rate, burst)) > 0:
            if wait > self.limits.rate_wait_max:
                raise TransientError(f"{provider.name} rate limited", retry_after=wait)
            await asyncio.sleep(wait)  # a fraction of a token interval, not a retry

    async def _provider_failed(
        self,
        event: ReminderDue,
        channel: Channel,
        provider: Provider,
        exc: ProviderError,
        phone: str | None,
    ) -> bool:
        await self.publish(self._failed(event, channel, provider.name, exc.reason, exc.permanent))
        if not exc.permanent:
            await self.breaker.record_failure(provider.name)
            raise TransientError(exc.reason, retry_after=exc.retry_after) from exc
        log.warning("permanent failure; failing over", channel=channel.value, reason=exc.reason)
        await self.ledger.mark_failed(event.clinic_id, event.reminder_id, channel)
        if phone and exc.code == UNSUBSCRIBED_CODE:
            await self.directory.set_number_stopped(phone, True)
        return False

    async def _record_sent(
        self, event: ReminderDue, *, record: SentRecord, token: str, phone: str | None
    ) -> None:
        # Everything a status callback or an SMS reply needs is written before the send is
        # recorded: once ``sent`` exists, a redelivery only re-announces it. Both keep the
        # EHR's correlation id, so what they cause goes back under it.
        sent = SentMessage(event.reminder_id, event.clinic_id, event.correlation_id)
        await self.directory.map_message(record.provider, record.provider_message_id, sent)
        if phone:
            await self.directory.mark_messaged(event.clinic_id, phone)
            last = LastReminder(
                event.clinic_id,
                event.client_ref,
                event.assignment_id,
                event.occurrence_date.isoformat(),
                event.reminder_id,
                event.correlation_id,
            )
            await self.directory.remember_reminder(phone, last)
        await self.ledger.record_sent(event.clinic_id, event.reminder_id, token, record)

    @staticmethod
    def _failed(
        event: ReminderDue,
        channel: Channel | None,
        provider: str | None,
        reason: str,
        permanent: bool,
    ) -> NotificationFailed:
        return NotificationFailed(
            **_about(event),
            channel=channel,
            provider=provider,
            reason=reason[:200],
            permanent=permanent,
        )


def _record(
    event: ReminderDue, channel: Channel, provider: Provider, result: SendResult, attempt: Attempt
) -> SentRecord:
    link = attempt.link
    return SentRecord(
        channel.value,
        provider.name,
        result.provider_message_id,
        occurrence_date=event.occurrence_date.isoformat(),
        purpose=event.purpose.value,
        link_code=link.code if link else None,
        link_expires_at=link.expires_at.isoformat() if link else None,
    )


def _about(event: ReminderDue) -> dict[str, Any]:
    """What every event about a reminder carries: the envelope it caused, and which
    reminder, client and assignment it is."""
    return {
        **event.caused(),
        "reminder_id": event.reminder_id,
        "client_ref": event.client_ref,
        "assignment_id": event.assignment_id,
    }


def _suppressed(
    event: ReminderDue, reason: SuppressionReason, deferred_until: datetime | None = None
) -> NotificationSuppressed:
    return NotificationSuppressed(
        **_about(event),
        reason=reason,
        deferred_until=deferred_until,
    )


def _orphan_finished(reminder_id: str, sending: asyncio.Future[SendResult]) -> None:
    """The end of a provider call whose handler was cancelled: the redelivery announces it
    (it finds the send recorded) or, after a failure, sends it again."""
    if sending.cancelled():
        return
    if (exc := sending.exception()) is not None:
        log.warning("send after cancellation failed", reminder_id=reminder_id, error=str(exc))
    else:
        log.info("send after cancellation recorded", reminder_id=reminder_id)


def _dispatched(event: ReminderDue, record: SentRecord) -> NotificationDispatched:
    """The announcement of a send, from its record alone: a redelivery announces the same
    (records from before they kept the link fall back to the reminder's own fields)."""
    occurrence = record.occurrence_date or event.occurrence_date.isoformat()
    return NotificationDispatched(
        **_about(event),
        event_id=derived_event_id("dispatched", event.clinic_id, event.reminder_id),
        channel=Channel(record.channel),
        provider=record.provider,
        provider_message_id=record.provider_message_id[:256],
        occurrence_date=date.fromisoformat(occurrence),
        purpose=ReminderPurpose(record.purpose) if record.purpose else event.purpose,
        link_code=record.link_code,
        link_expires_at=(
            datetime.fromisoformat(record.link_expires_at) if record.link_expires_at else None
        ),
    )
