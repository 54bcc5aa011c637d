"""The provider interface. A new provider (FCM, APNs, an email API) is one module
with a class that has ``name``, ``rate_key`` and ``send``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from shared.contracts import Channel, PushSubscription


@dataclass(frozen=True)
class Sender:
    """Who the message comes from, per clinic (``shared.contracts.policy.Senders``); a
    field left empty keeps the provider's own setting."""

    sms_from: str | None = None
    sms_messaging_service_sid: str | None = None  # Twilio: a Messaging Service, not a number
    email_from: str | None = None
    email_reply_to: str | None = None


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
    sender: Sender = Sender()
    # The clinic's order of providers for this channel by name (empty: the notifier's).
    providers: tuple[str, ...] = ()
    client_ref: str = ""  # named in a status callback URL: the send record's hash slot
    carries: int = 1  # reminders in the message (a digest: more), named there too


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class ProviderError(Exception):
    """A send that did not go through. ``permanent``: never retry this recipient on this
    channel (invalid number, unsubscribed); otherwise try again later. ``unsent``: the
    provider certainly did not take the message (no connection, or an error answer), so
    another provider may send it at once without risking a second copy; a timeout after
    the request went out is not ``unsent`` (the provider may have accepted it)."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        code: str | None = None,
        unsent: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.code = code
        self.unsent = unsent


class Provider(Protocol):
    name: str

    @property
    def rate_key(self) -> str:
        """Account and sender: the unit a provider rate-limits (shared by replicas)."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class PerSender(Protocol):
    """A provider that can send as a clinic's own sender: each sender is its own unit of
    the provider's rate limit (a long code's 1/s is per number)."""

    def rate_key_for(self, message: OutboundMessage) -> str: ...


def rate_key(provider: Provider, message: OutboundMessage) -> str:
    if isinstance(provider, PerSender):
        return provider.rate_key_for(message)
    return provider.rate_key


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
