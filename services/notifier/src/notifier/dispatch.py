"""Sending one due reminder: load, decide, then send and record, or announce why not.

``SendStore.load`` reads everything the decision needs in one round trip; ``decide``
(pure) says what to do; a send then reserves, right before each provider call, the lease,
a cap slot and a rate token in one script that also re-checks the assignment (a
completion, cancel or pause may have arrived while the reminder waited: in the queue,
deferred, for a token, in a retry tier); the provider's answer is recorded in one more.
A successful SMS costs four round trips (the number's flags are named by the client's
record), each batched with those of the other handlers running at the time
(``shared.redis_batch``).

A channel's providers are tried in the clinic's order (``routing.py``): while one is
unavailable (circuit open, or it certainly did not take the message) the next sends at
once, under the same lease. A permanent failure fails over to the next channel; any
other transient one is retried later through the delayed retry tiers; a rate token due
within ``rate_wait_max`` is waited for by the caller, outside the client's turn
(``handle`` returns the wait).

The scheduler hands a reminder over a little before its time (``SCHEDULER_FIRE_AHEAD_MS``)
so that when many fall due in the same second, their loads and decisions are done by
then: a reminder is decided as of its time and its provider call waits for that time,
never earlier (``_at``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from notifier import metrics, outcomes, push_revocation
from notifier.assignments import stop_reason
from notifier.compose import LinkConfig
from notifier.decide import (
    SUPPRESSED,
    AlreadySent,
    Defer,
    Drop,
    Fail,
    Grouped,
    Rules,
    Send,
    Split,
    Suppress,
    decide,
)
from notifier.digests import each_sent
from notifier.outcomes import SentRecord
from notifier.providers.base import (
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    rate_key,
)
from notifier.providers.twilio import UNSUBSCRIBED_CODE
from notifier.resilience import CircuitBreaker, burst_for
from notifier.routing import fails_over, provider_order
from notifier.send_store import Bucket, SendStore
from shared.contracts import Channel, Event, ReminderDue, SuppressionReason
from shared.errors import PermanentError, TransientError
from shared.logging import get_logger

log = get_logger("notifier.dispatch")
# A reminder handed over at most this long before its time is sent at its time; one due
# later than that (a clock far off) is handled as if due now, as before fire-ahead.
MAX_AHEAD = timedelta(seconds=2)
Publish = Callable[[Event], Awaitable[None]]


class Stopped(Exception):
    """The reminder must not be sent after all (its occurrence was done, or its
    assignment cancelled or paused, while it waited; or a cap is full)."""

    def __init__(self, reason: SuppressionReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Unavailable(TransientError):
    """A provider is down for now (its circuit is open, or it certainly did not take the
    message): the channel's next provider may send at once. After the last one, an
    ordinary transient error (the retry tiers)."""


class WaitForToken(Exception):
    """A rate token is due soon: handle the reminder again then."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate token in {seconds:.3f}s")
        self.seconds = seconds


@dataclass
class Attempt:
    """One delivery's hold on a reminder: its lease token, whether it holds the lease,
    the assignment revision it decided on, and whether its provider call outlived a
    cancelled handler (the call then settles the lease itself)."""

    token: str
    rev: int
    held: bool = False
    orphaned: bool = False


@dataclass(frozen=True)
class Limits:
    rates: dict[Channel, float]
    rate_wait_max: float
    quiet_defer_max: float


@dataclass
class Dispatcher:
    store: SendStore
    breaker: CircuitBreaker
    providers: dict[Channel, tuple[Provider, ...]]  # per channel, the notifier's order
    publish: Publish
    links: LinkConfig
    limits: Limits

    async def handle(self, event: ReminderDue, now: datetime | None = None) -> float | None:
        """Handle one delivery of ``event``: None when done, else the seconds until a rate
        token is due (handle it again then; nothing is held meanwhile but its cap slot)."""
        now = now or datetime.now(UTC)
        at, started = _at(event, now), asyncio.get_running_loop().time()
        context = await self.store.load(event)
        decision = decide(event, context, at, Rules(self.links, self.limits.quiet_defer_max))
        if isinstance(decision, Split | Grouped | Send):
            # Its provider call waits for its time (what loading and deciding left of it).
            wait = (at - now).total_seconds() - (asyncio.get_running_loop().time() - started)
            if wait > 0:
                await asyncio.sleep(wait)
        if isinstance(decision, Split | Grouped):  # a digest's reminders (see ``_digest``)
            return await self._digest(decision, at)
        if isinstance(decision, Send):
            return await self._send(
                event, decision, Attempt(uuid.uuid4().hex, context.assignment_rev)
            )
        if isinstance(decision, AlreadySent):
            # Announce it again: the first delivery may have stopped between recording
            # the send and publishing (the tracker takes a repeated announcement as one).
            log.info("duplicate reminder: already sent", reminder_id=event.reminder_id)
            await self.publish(decision.announcement)
        elif isinstance(decision, Fail):
            await self.publish(decision.announcement)
            raise PermanentError("every allowed channel failed permanently")
        else:
            await self._not_sent(event, decision)
        return None

    async def _not_sent(self, event: ReminderDue, decision: Suppress | Defer | Drop) -> None:
        """Suppressed, deferred or dropped: announced once."""
        reason = decision.announcement.reason.value
        log.info("not sent", reminder_id=event.reminder_id, reason=reason)
        if await self.store.settle(event, None, once=decision.once):
            await self.publish(decision.announcement)
        if isinstance(decision, Defer):
            raise TransientError("inside quiet hours", retry_after=decision.wait)

    async def _send(self, event: ReminderDue, send: Send, attempt: Attempt) -> float | None:
        try:
            for channel in send.channels:
                if await self._try(event, send, channel, attempt):
                    return None
            # Every channel failed permanently: nothing was sent, the slot is free again.
            await self.store.settle(event, attempt.token, give_back=True)
            attempt.held = False
            for carried in _carried(event, send):
                await self.publish(outcomes.every_channel_failed(carried))
            raise PermanentError("every allowed channel failed permanently")
        except Stopped as stop:
            attempt.held = False
            log.info("suppressed", reminder_id=event.reminder_id, reason=stop.reason.value)
            if await self.store.settle(event, attempt.token, give_back=True, once=SUPPRESSED):
                for carried in _carried(event, send):
                    await self.publish(outcomes.suppressed(carried, stop.reason))
        except WaitForToken as wait:
            return wait.seconds
        finally:
            # A provider call that outlived a cancelled handler still holds the lease: it
            # records the send and releases it, so a redelivery meanwhile cannot resend.
            if attempt.held and not attempt.orphaned:
                await self.store.settle(event, attempt.token)
        return None

    async def _try(
        self, event: ReminderDue, send: Send, channel: Channel, attempt: Attempt
    ) -> bool:
        """True when sent; False after a permanent failure (fail over); raises otherwise."""
        message = send.messages[channel]
        *before, last = provider_order(self.providers[channel], message.providers)
        for provider in before:
            try:
                return await self._try_provider(event, send, provider, message, attempt)
            except Unavailable as down:
                metrics.FAILOVERS.labels(channel.value, provider.name).inc()
                log.warning(
                    "provider unavailable; the next one sends",
                    reminder_id=event.reminder_id,
                    channel=channel.value,
                    provider=provider.name,
                    reason=str(down),
                )
        return await self._try_provider(event, send, last, message, attempt)

    async def _try_provider(
        self,
        event: ReminderDue,
        send: Send,
        provider: Provider,
        message: OutboundMessage,
        attempt: Attempt,
    ) -> bool:
        channel = message.channel
        await self._reserve(event, send, provider, message, attempt)
        sending = asyncio.ensure_future(
            self._send_and_record(event, send, provider=provider, message=message, attempt=attempt)
        )
        try:
            # Shielded: losing the broker connection cancels running handlers, and a
            # provider call cancelled before its answer is recorded would be sent again
            # by the redelivery. It finishes on its own and records what the provider said.
            result = await asyncio.shield(sending)
        except ProviderError as exc:
            outcome = "permanent_failure" if exc.permanent else "transient_failure"
            metrics.SENDS.labels(channel.value, provider.name, outcome).inc()
            return await self._provider_failed(event, message, provider, exc)
        except asyncio.CancelledError:
            if not sending.done():
                attempt.orphaned = True
                sending.add_done_callback(partial(_orphan_finished, event.reminder_id))
            raise
        metrics.SENDS.labels(channel.value, provider.name, "sent").inc()
        self.breaker.saw(provider.name, 0.0)
        record = _record(event, send, channel, provider, result)
        for carried, own in each_sent(event, record, send.together):
            await self.publish(outcomes.dispatched(carried, own))
        return True

    async def _reserve(
        self,
        event: ReminderDue,
        send: Send,
        provider: Provider,
        message: OutboundMessage,
        attempt: Attempt,
    ) -> None:
        """The lease, a cap slot and a rate token, after the last look at the assignment
        before sending; or why not (raises). The lease is the reminder's, whichever
        provider sends: a failover re-takes it with the same token."""
        rate = self.limits.rates[message.channel]
        bucket = Bucket(rate_key(provider, message), rate, burst_for(rate))
        while True:
            found = await self.store.reserve(
                event,
                send,
                token=attempt.token,
                rev=attempt.rev,
                circuit=provider.name,
                bucket=bucket,
            )
            if found.outcome != "changed":
                break
            # A completion, cancel or pause may have arrived since the load.
            attempt.rev = found.rev
            state = found.assignment
            if reason := stop_reason(
                state, event.assignment_version, event.occurrence_date, event.purpose
            ):
                raise Stopped(reason)
        if found.outcome == "ok":
            attempt.held = True
            return
        self._refused(found.outcome, found.seconds, provider)

    def _refused(self, outcome: str, seconds: float, provider: Provider) -> None:
        if outcome == "cap":
            raise Stopped(SuppressionReason.CAP)
        if outcome == "open":
            self.breaker.saw(provider.name, seconds)
            raise Unavailable(f"{provider.name} circuit open", retry_after=seconds)
        if outcome == "wait":
            if seconds > self.limits.rate_wait_max:
                raise TransientError(f"{provider.name} rate limited", retry_after=seconds)
            raise WaitForToken(seconds)  # a fraction of a token interval, not a retry
        # "busy": another delivery of this reminder is being sent right now; "sent": it
        # was sent meanwhile, and the retry announces it.
        raise TransientError("send in progress", retry_after=seconds + 0.5)

    async def _send_and_record(
        self,
        event: ReminderDue,
        send: Send,
        *,
        provider: Provider,
        message: OutboundMessage,
        attempt: Attempt,
    ) -> SendResult:
        try:
            with metrics.SEND_SECONDS.labels(provider.name).time():
                result = await provider.send(message)
        except BaseException:
            if attempt.orphaned:  # its handler is gone: free the lease
                await self.store.settle(event, attempt.token)
            raise
        phone = message.to_phone if message.channel is Channel.SMS else None
        record = _record(event, send, message.channel, provider, result)
        (_, own), *others = each_sent(event, record, send.together)
        await self.store.commit_sent(event, own, token=attempt.token, phone=phone, others=others)
        attempt.held = False
        return result

    # -- digests: several reminders of one client due together (see ``decide``) -------
    async def _digest(self, decision: Split | Grouped, now: datetime) -> float | None:
        """A digest sent as one message (``Grouped``: the reminders it leaves out are
        handled on their own first), or each of its reminders on its own (``Split``)."""
        if isinstance(decision, Split):
            return await self._each(decision.members, now)
        if (wait := await self._each(decision.others, now)) is not None:
            return wait
        if isinstance(decision.decision, Defer):
            await self._not_sent(decision.key, decision.decision)
            return None
        attempt = Attempt(uuid.uuid4().hex, decision.rev)
        return await self._send(decision.key, decision.decision, attempt)

    async def _each(self, members: tuple[ReminderDue, ...], now: datetime) -> float | None:
        """Each reminder as if it had come alone. A rate token's wait is returned (the
        whole digest is handled again then: those already sent are only re-announced);
        a permanent failure of one does not keep the others from being sent."""
        failure: PermanentError | None = None
        for member in members:
            try:
                if (wait := await self.handle(member, now)) is not None:
                    return wait
            except PermanentError as exc:
                failure = exc
        if failure is not None:
            raise failure
        return None

    async def _provider_failed(
        self,
        event: ReminderDue,
        message: OutboundMessage,
        provider: Provider,
        exc: ProviderError,
    ) -> bool:
        channel = message.channel
        await self.publish(
            outcomes.failed(event, channel, provider.name, exc.reason, exc.permanent)
        )
        if not exc.permanent:
            await self.breaker.record_failure(provider.name)
            error = Unavailable if fails_over(exc) else TransientError
            raise error(exc.reason, retry_after=exc.retry_after) from exc
        log.warning("permanent failure; failing over", channel=channel.value, reason=exc.reason)
        # A push subscription that is gone leaves the directory (push.revoked).
        if push_revocation.is_gone(message, exc):
            store = self.store
            await push_revocation.revoke(
                store.redis,
                store.keys,
                self.publish,
                event=event,
                message=message,
                provider=provider.name,
                exc=exc,
            )
        unsubscribed = channel is Channel.SMS and exc.code == UNSUBSCRIBED_CODE
        await self.store.mark_failed(event, channel, message.to_phone if unsubscribed else None)
        return False


def _at(event: ReminderDue, now: datetime) -> datetime:
    """When ``event`` is decided and sent: its planned time when it was handed over ahead
    of it (``MAX_AHEAD`` at most), else now."""
    return event.planned_for if now < event.planned_for <= now + MAX_AHEAD else now


def _carried(event: ReminderDue, send: Send) -> tuple[ReminderDue, ...]:
    """The reminders a send is for: ``event``, or every one a digest carries."""
    return send.together.members if send.together else (event,)


def _record(
    event: ReminderDue, send: Send, channel: Channel, provider: Provider, result: SendResult
) -> SentRecord:
    link = send.link
    return SentRecord(
        channel.value,
        provider.name,
        result.provider_message_id,
        occurrence_date=event.occurrence_date.isoformat(),
        purpose=event.purpose.value,
        link_code=link.code if link else None,
        link_expires_at=link.expires_at.isoformat() if link else None,
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
