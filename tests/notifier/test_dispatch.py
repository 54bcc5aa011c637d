"""The dispatcher and its Redis-backed guards, driven directly (real Redis, recording
providers): quiet hours, dedupe lease, circuit breaker, rate limit, directory order."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from notifier.handlers import apply_directory_event
from notifier.providers.base import ProviderError
from shared.contracts import (
    Channel,
    ChannelConsent,
    ConsentChanged,
    QuietHours,
)
from shared.errors import PermanentError, TransientError
from tests.notifier.conftest import CLINIC, PHONE, Rig, reminder
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration


def kinds(rig: Rig) -> list[str]:
    return [e.type_tag() for e in rig.published]


async def test_inside_short_quiet_hours_defers_with_deferred_until(rig: Rig) -> None:
    now = datetime(2026, 11, 23, 20, 55, tzinfo=UTC)
    await rig.prefs(quiet_hours=QuietHours(start=time(20, 0), end=time(21, 0)))
    with pytest.raises(TransientError) as info:
        await rig.runtime.dispatcher.handle(reminder("cl-d"), now=now)
    assert info.value.retry_after == 300
    suppressed = rig.published[0]
    assert suppressed.type_tag() == "notification.suppressed"
    assert getattr(suppressed, "deferred_until") == now + timedelta(minutes=5)  # noqa: B009
    await rig.runtime.dispatcher.handle(reminder("cl-d"), now=now + timedelta(minutes=6))
    assert len(rig.sms.sent) == 1


async def test_inside_long_quiet_hours_drops_with_the_reason(rig: Rig) -> None:
    now = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    await rig.prefs()  # no client window: the clinic's default 21:00-08:00 is not known here
    await rig.prefs(version=2, quiet_hours=QuietHours(start=time(21), end=time(8)))
    await rig.runtime.dispatcher.handle(reminder("cl-d"), now=now)
    assert kinds(rig) == ["notification.suppressed"]
    assert getattr(rig.published[0], "deferred_until") is None  # noqa: B009
    assert rig.sms.sent == []


async def test_older_preferences_never_replace_newer(rig: Rig) -> None:
    await rig.prefs(version=3, consent=ChannelConsent(email=True))
    await rig.prefs(version=2)
    prefs = await rig.runtime.directory.preferences(CLINIC, "cl-d")
    assert prefs is not None
    assert prefs.version == 3
    await rig.runtime.dispatcher.handle(reminder("cl-d"))
    assert len(rig.email.sent) == 1
    assert rig.sms.sent == []


async def test_consent_changed_opts_out_a_channel(rig: Rig) -> None:
    await rig.prefs()
    await apply_directory_event(
        rig.runtime,
        ConsentChanged(
            clinic_id=CLINIC,
            client_ref="cl-d",
            channel=Channel.SMS,
            opted_out=True,
            source="unsubscribe_link",
        ),
    )
    await rig.runtime.dispatcher.handle(reminder("cl-d"))
    assert rig.sms.sent == []
    assert len(rig.email.sent) == 1


async def test_a_send_in_progress_elsewhere_is_retried_not_repeated(rig: Rig) -> None:
    await rig.prefs()
    due = reminder("cl-d")
    store = rig.runtime.dispatcher.store
    lease = store.keys.lease(CLINIC, due.client_ref, due.reminder_id)
    assert await store.redis.set(lease, "another-replica", nx=True, px=60_000)
    with pytest.raises(TransientError, match="send in progress"):
        await rig.runtime.dispatcher.handle(due)
    await store.redis.delete(lease)
    await rig.runtime.dispatcher.handle(due)
    await rig.runtime.dispatcher.handle(due)
    assert len(rig.sms.sent) == 1


async def test_a_handler_cancelled_mid_send_still_records_it_and_is_not_resent(
    rig: Rig,
) -> None:
    """Losing the broker connection cancels running handlers; a provider call already
    made must still be recorded, or the redelivered reminder would be sent twice."""
    await rig.prefs()
    due = reminder("cl-d")
    store = rig.runtime.dispatcher.store
    rig.sms.gate = asyncio.Event()
    handler = asyncio.create_task(rig.runtime.dispatcher.handle(due))
    await asyncio.wait_for(rig.sms.calling.wait(), 5)
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    # The redelivery arrives while the provider is still answering: it must wait.
    with pytest.raises(TransientError, match="send in progress"):
        await rig.runtime.dispatcher.handle(due)
    rig.sms.gate.set()
    await wait_for(lambda: _sent(store, due), timeout=5, interval=0.02)
    assert (
        await store.lease_left(CLINIC, due.client_ref, due.reminder_id) == 0
    )  # released once recorded
    await rig.runtime.dispatcher.handle(due)  # the redelivery: announced, not sent
    assert len(rig.sms.sent) == 1
    assert kinds(rig) == ["notification.dispatched"]


async def test_a_failed_send_whose_handler_was_cancelled_frees_the_reminder(rig: Rig) -> None:
    await rig.prefs()
    due = reminder("cl-d")
    rig.sms.gate = asyncio.Event()
    rig.sms.fail = ProviderError("twilio 503", permanent=False)
    handler = asyncio.create_task(rig.runtime.dispatcher.handle(due))
    await asyncio.wait_for(rig.sms.calling.wait(), 5)
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    rig.sms.gate.set()
    store = rig.runtime.dispatcher.store

    async def lease_gone() -> bool:
        return await store.lease_left(CLINIC, due.client_ref, due.reminder_id) == 0

    await wait_for(lease_gone, timeout=5, interval=0.02)
    rig.sms.fail = None
    await rig.runtime.dispatcher.handle(due)  # the redelivery sends it, once
    assert len(rig.sms.sent) == 1


async def _sent(store: Any, due: Any) -> bool:
    return await store.sent(CLINIC, due.client_ref, due.reminder_id) is not None


async def test_circuit_opens_after_failures_and_refuses_quickly(rig: Rig) -> None:
    await rig.prefs()
    rig.sms.fail = ProviderError("sms 503", permanent=False)
    for n in range(2):
        with pytest.raises(TransientError):
            await rig.runtime.dispatcher.handle(reminder("cl-d", n))
    rig.sms.fail = None
    with pytest.raises(TransientError, match="circuit open") as info:
        await rig.runtime.dispatcher.handle(reminder("cl-d", 5))
    assert info.value.retry_after is not None
    assert info.value.retry_after > 0
    assert rig.sms.sent == []


async def test_rate_limit_is_shared_and_defers_beyond_the_wait(rig: Rig) -> None:
    await rig.prefs()
    dispatcher = rig.runtime.dispatcher
    dispatcher.limits = replace(
        dispatcher.limits, rates={**dispatcher.limits.rates, Channel.SMS: 1}
    )
    await rig.runtime.dispatcher.handle(reminder("cl-d", 0))
    with pytest.raises(TransientError, match="rate limited"):
        await rig.runtime.dispatcher.handle(reminder("cl-d", 1))
    assert len(rig.sms.sent) == 1


async def test_every_channel_failing_permanently_dead_letters(rig: Rig) -> None:
    await rig.prefs()
    rig.sms.fail = ProviderError("twilio 400 code 21211", permanent=True)
    rig.email.fail = ProviderError("recipient refused", permanent=True)
    with pytest.raises(PermanentError):
        await rig.runtime.dispatcher.handle(reminder("cl-d"))
    failed = [e for e in rig.published if e.type_tag() == "notification.failed"]
    assert len(failed) == 3
    assert all(getattr(e, "permanent") for e in failed)  # noqa: B009


async def test_token_bucket_is_shared_by_replicas(redis: Any, namespace: str) -> None:
    from notifier.resilience import RateLimiter

    a, b = (
        RateLimiter(redis, f"{namespace}:bs:notifier"),
        RateLimiter(redis, f"{namespace}:bs:notifier"),
    )
    assert await a.acquire("twilio:AC1:+1500", rate=1) == 0
    wait = await b.acquire("twilio:AC1:+1500", rate=1)
    assert 0 < wait <= 1
    assert await b.acquire("twilio:AC1:+1999", rate=1) == 0  # another sender, its own bucket


async def test_a_client_record_without_its_number_hash_still_finds_its_number_stop(
    rig: Rig,
) -> None:
    await rig.prefs()
    store = rig.runtime.dispatcher.store
    client = store.keys.client(CLINIC, "cl-d")
    await store.redis.hdel(client, "sms")  # as releases before it was kept wrote it
    await store.redis.set(store.keys.number("stop", PHONE), "1")
    await rig.runtime.dispatcher.handle(reminder("cl-d"))
    assert rig.sms.sent == []
    assert len(rig.email.sent) == 1
