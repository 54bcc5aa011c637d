"""The provider interface. A new provider (FCM, APNs, an email API) is one module
with a class that has ``name``, ``rate_key`` and ``send``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.contracts import Channel, PushSubscription


@dataclass(frozen=True)
class OutboundMessage:
    channel: Channel
    reminder_id: str
    clinic_id: str = ""
    correlation_id: str | None = None  # the EHR's, for what the message causes later
    to_phone: str | None = None
    to_email: str | None = None
    to_push: PushSubscription | None = None
    subject: str = ""
    text: str = ""
    html: str = ""
    push_title: str = ""
    url: str = ""  # the done link, opened when a push notification is tapped
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class ProviderError(Exception):
    """A send that did not go through. ``permanent``: never retry this recipient on this
    channel (invalid number, unsubscribed); otherwise try again later."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.code = code


class Provider(Protocol):
    name: str

    @property
    def rate_key(self) -> str:
        """Account and sender: the unit a provider rate-limits (shared by replicas)."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
