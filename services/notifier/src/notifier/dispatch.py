"""Sending one due reminder: re-check, deduplicate, pick a channel, send, fail over.

At send time the opt-out, consent and quiet hours are checked again (they may have
changed since the scheduler planned the reminder). Quiet hours that end within
``quiet_defer_max_seconds`` defer the reminder (``notification.suppressed`` with
``deferred_until``, then a delayed re-delivery); longer ones drop it with the reason
``quiet_hours`` (the scheduler plans around quiet hours, so only a late reminder
lands here, and a reminder hours late is noise, not help).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from notifier import metrics
from notifier.channels import plan_channels
from notifier.compose import LinkConfig, build_message, render_reminder
from notifier.directory import Directory, LastReminder
from notifier.ledger import Ledger, SentRecord
from notifier.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from notifier.providers.twilio import UNSUBSCRIBED_CODE
from notifier.resilience import CircuitBreaker, RateLimiter, burst_for
from notifier.templates import Rendered
from shared.contracts import (
    Channel,
    ClientPreferencesChanged,
    ClinicPolicy,
    Event,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    ReminderDue,
    SuppressionReason,
    derived_event_id,
)
from shared.errors import PermanentError, TransientError
from shared.logging import get_logger
from shared.quiet_hours import end_of_quiet, quiet_at

log = get_logger("notifier.dispatch")
Publish = Callable[[Event], Awaitable[None]]


@dataclass
class Attempt:
    """One delivery's hold on a reminder: its lease token, and whether its provider call
    outlived a cancelled handler (the call then settles the lease itself)."""

    token: str
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
    limiter: RateLimiter
    breaker: CircuitBreaker
    providers: dict[Channel, Provider]
    publish: Publish
    links: LinkConfig
    limits: Limits

    async def handle(self, event: ReminderDue, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        if (record := await self.ledger.sent(event.reminder_id)) is not None:
            # Announce it again: the first delivery may have stopped between recording
            # the send and publishing (the tracker takes a repeated announcement as one).
            log.info("duplicate reminder: already sent", reminder_id=event.reminder_id)
            await self.publish(_dispatched(event, record))
            return
        prefs = await self.directory.preferences(event.clinic_id, event.client_ref)
        policy = await self.directory.policy(event.clinic_id, event.policy_id)
        if prefs is not None and await self._quiet(event, prefs, policy, now):
            return
        token = await self.ledger.claim(event.reminder_id)
        if token is None:  # another delivery of this reminder is being sent right now
            raise TransientError("send in progress", retry_after=await self._lease(event))
        attempt = Attempt(token)
        try:
            await self._send_first_allowed(event, prefs, policy, attempt, now)
        finally:
            # A provider call that outlived a cancelled handler still holds the lease: it
            # records the send and releases it, so a redelivery meanwhile cannot resend.
            if not attempt.orphaned:
                await self.ledger.release(event.reminder_id, token)

    async def _lease(self, event: ReminderDue) -> float:
        return await self.ledger.lease_left(event.reminder_id) + 0.5

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
        if await self.ledger.once(event.reminder_id, "quiet"):
            await self.publish(
                NotificationSuppressed(
                    **event.caused(),
                    reminder_id=event.reminder_id,
                    client_ref=event.client_ref,
                    assignment_id=event.assignment_id,
                    reason=SuppressionReason.QUIET_HOURS,
                    deferred_until=until if deferred else None,
                )
            )
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
        failed = await self.ledger.failed_channels(event.reminder_id)
        clinic_channels = policy.channels if policy else None
        plan = plan_channels(prefs, clinic_channels, blocked, failed)
        if not plan.channels or prefs is None:
            await self._nothing_to_send(event, plan.reason, failed)
            return
        rendered = render_reminder(event, prefs, policy, self.links, now)
        for channel in plan.channels:
            if await self._try(event, channel, prefs, rendered, attempt):
                return
        await self._nothing_to_send(event, None, {*failed, *plan.channels})

    async def _nothing_to_send(
        self, event: ReminderDue, reason: SuppressionReason | None, failed: set[Channel]
    ) -> None:
        if failed:
            await self.publish(
                self._failed(event, None, None, "every allowed channel failed", True)
            )
            raise PermanentError("every allowed channel failed permanently")
        if await self.ledger.once(event.reminder_id, "suppressed"):
            await self.publish(
                NotificationSuppressed(
                    **event.caused(),
                    reminder_id=event.reminder_id,
                    client_ref=event.client_ref,
                    assignment_id=event.assignment_id,
                    reason=reason or SuppressionReason.NO_CONTACT,
                )
            )

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
        phone = prefs.contacts.sms if channel is Channel.SMS else None
        first_sms = bool(phone) and not await self.directory.has_messaged(phone or "")
        message = build_message(
            event,
            channel=channel,
            prefs=prefs,
            rendered=rendered,
            links=self.links,
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
        await self.publish(_dispatched(event, _record(channel, provider, result)))
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
                await self.ledger.release(event.reminder_id, attempt.token)
            raise
        await self._record_sent(
            event,
            channel=channel,
            provider=provider,
            result=result,
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
        await self.ledger.mark_failed(event.reminder_id, channel)
        if phone and exc.code == UNSUBSCRIBED_CODE:
            await self.directory.set_number_stopped(phone, True)
        return False

    async def _record_sent(
        self,
        event: ReminderDue,
        *,
        channel: Channel,
        provider: Provider,
        result: SendResult,
        token: str,
        phone: str | None,
    ) -> None:
        # Everything a status callback or an SMS reply needs is written before the send is
        # recorded: once ``sent`` exists, a redelivery only re-announces it.
        await self.directory.map_message(
            provider.name, result.provider_message_id, event.reminder_id
        )
        if phone:
            await self.directory.mark_messaged(phone)
            last = LastReminder(
                event.clinic_id,
                event.client_ref,
                event.assignment_id,
                event.occurrence_date.isoformat(),
                event.reminder_id,
            )
            await self.directory.remember_reminder(phone, last)
        await self.ledger.record_sent(event.reminder_id, token, _record(channel, provider, result))

    @staticmethod
    def _failed(
        event: ReminderDue,
        channel: Channel | None,
        provider: str | None,
        reason: str,
        permanent: bool,
    ) -> NotificationFailed:
        return NotificationFailed(
            **event.caused(),
            reminder_id=event.reminder_id,
            client_ref=event.client_ref,
            assignment_id=event.assignment_id,
            channel=channel,
            provider=provider,
            reason=reason[:200],
            permanent=permanent,
        )


def _record(channel: Channel, provider: Provider, result: SendResult) -> SentRecord:
    return SentRecord(channel.value, provider.name, result.provider_message_id)


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
    return NotificationDispatched(
        **event.caused(),
        event_id=derived_event_id("dispatched", event.reminder_id),
        reminder_id=event.reminder_id,
        client_ref=event.client_ref,
        assignment_id=event.assignment_id,
        channel=Channel(record.channel),
        provider=record.provider,
        provider_message_id=record.provider_message_id[:256],
    )
