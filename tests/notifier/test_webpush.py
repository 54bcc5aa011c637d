"""The Web Push provider against a local push service over real HTTP: what each answer
means for the send, and that no send takes a thread or the ``requests`` stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.utils import b64urlencode

from notifier.providers.base import OutboundMessage, ProviderError
from notifier.providers.webpush import WebPushProvider
from shared.contracts import Channel, PushSubscription
from tests.fakes.webpush_endpoint import FakePushService
from tests.notifier.conftest import vapid_private_key
from tests.support.services import free_port

AUTH = "c2VjcmV0YXV0aDE2"
DONE_LINK = "https://t.bs.example/d/Ab3_dE-fGh1JkLmN0pQ2s"


@pytest.fixture
async def push() -> AsyncIterator[FakePushService]:
    service = FakePushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def provider() -> AsyncIterator[WebPushProvider]:
    made = WebPushProvider(
        private_key=vapid_private_key(), subject="mailto:ops@example.org", timeout=0.5
    )
    try:
        yield made
    finally:
        await made.aclose()


def browser_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The subscription's key pair, as a browser makes it: the private half decrypts."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, str(b64urlencode(public))


def message(endpoint: str, p256dh: str | None = None) -> OutboundMessage:
    p256dh = p256dh or browser_key()[1]
    sub = PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=AUTH)
    return OutboundMessage(
        Channel.PUSH,
        "rem-1",
        to_push=sub,
        text="An activity is waiting",
        push_title="Northside",
        url=DONE_LINK,
    )


async def failure(provider: WebPushProvider, msg: OutboundMessage) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(msg)
    return caught.value


async def test_201_is_sent_on_the_loop_without_a_thread_or_requests(
    push: FakePushService, provider: WebPushProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a push send must stay on the event loop, off requests")

    monkeypatch.setattr(requests.Session, "send", refuse)
    monkeypatch.setattr(asyncio, "to_thread", refuse)
    # The endpoint is an IP address, so aiohttp resolves nothing in the executor either.
    monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", refuse)
    key, p256dh = browser_key()

    first = await provider.send(message(push.endpoint("sub1"), p256dh))
    second = await provider.send(message(push.endpoint("sub1"), p256dh))

    assert (first.provider_message_id, second.provider_message_id) == ("1", "2")  # Location
    sent = push.received[0]
    assert sent.payload(key, AUTH) == {
        "title": "Northside",
        "body": "An activity is waiting",
        "url": DONE_LINK,
    }
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["ttl"] == "0"
    assert "urgency" not in headers
    assert headers["authorization"].startswith("vapid t=")


async def test_410_means_the_subscription_is_gone(
    push: FakePushService, provider: WebPushProvider
) -> None:
    push.gone.add("sub1")
    error = await failure(provider, message(push.endpoint("sub1")))
    assert error.permanent
    assert error.code == "410"
    assert "gone" in error.reason


@pytest.mark.parametrize("status", [429, 503])
async def test_429_and_5xx_are_transient_and_honour_retry_after(
    push: FakePushService, provider: WebPushProvider, status: int
) -> None:
    push.fail_next, push.fail_status, push.retry_after = 1, status, "7"
    error = await failure(provider, message(push.endpoint("sub1")))
    assert not error.permanent
    assert error.retry_after == 7.0
    assert (await provider.send(message(push.endpoint("sub1")))).provider_message_id == "1"


async def test_a_refusal_without_retry_after_leaves_the_delay_to_our_backoff(
    push: FakePushService, provider: WebPushProvider
) -> None:
    push.fail_next, push.fail_status = 1, 429
    error = await failure(provider, message(push.endpoint("sub1")))
    assert not error.permanent
    assert error.retry_after is None


async def test_a_timeout_is_transient(push: FakePushService, provider: WebPushProvider) -> None:
    push.hang_next, push.hang_seconds = 1, 1.5  # the provider waits 0.5 s
    error = await failure(provider, message(push.endpoint("sub1")))
    assert not error.permanent
    assert "timed out" in error.reason


async def test_an_unreachable_push_service_is_transient(provider: WebPushProvider) -> None:
    error = await failure(provider, message(f"http://127.0.0.1:{free_port()}/push/sub1"))
    assert not error.permanent
    assert "unreachable" in error.reason


async def test_a_vapid_key_that_does_not_decode_fails_the_send_not_the_start(
    push: FakePushService,
) -> None:
    provider = WebPushProvider(private_key="not a key", subject="mailto:ops@example.org")
    try:
        error = await failure(provider, message(push.endpoint("sub1")))
    finally:
        await provider.aclose()
    assert not error.permanent  # our configuration, not the recipient's
    assert push.received == []
