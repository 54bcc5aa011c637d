"""Keyword replies sent back through the Vonage Messages API.

Twilio sends our reply from the TwiML answer to its inbound webhook; Vonage's inbound
webhook takes no answer, so each reply (HELP's text, DONE's thanks, a STOP or START
confirmation) is one API send, from the number the client wrote to. A reply is no
reminder: no ledger, no caps, no rate bucket. Vonage posts an inbound message again when
it got no 2xx in time, so a reply is claimed once per inbound ``message_uuid`` before it
is sent; the keyword's effects run every time (they are idempotent), the reply once.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.providers.base import ProviderError
from notifier.providers.vonage import VonageProvider
from notifier.runtime import Runtime
from shared.contracts import Channel
from shared.logging import get_logger

log = get_logger("notifier.vonage_replies")
# Vonage posts an inbound message again while it gets no 2xx, for up to a day (24 hours
# is what its inbound SMS guide documents): a redelivery within that is answered once.
CLAIM_TTL_SECONDS = 24 * 3600
MAX_UUID = 64  # Vonage's are UUIDs; a longer one is cut, not stored whole in a key name


@dataclass(frozen=True)
class Inbound:
    """An inbound SMS as the reply needs it: who wrote, to which of our numbers."""

    message_uuid: str | None
    client_phone: str  # E.164
    our_number: str | None  # None: the provider's default sender


def vonage_provider(runtime: Runtime) -> VonageProvider | None:
    providers = (runtime.providers or {}).get(Channel.SMS, ())
    return next((p for p in providers if isinstance(p, VonageProvider)), None)


def claim_key(runtime: Runtime, message_uuid: str) -> str:
    return f"{runtime.directory.keys.prefix}:reply:vonage:{message_uuid[:MAX_UUID]}"


async def send_reply(runtime: Runtime, inbound: Inbound, text: str) -> bool:
    """True when Vonage took the reply now; False when it was sent before (a redelivered
    webhook), or could not be sent (logged: the keyword's effect stands without it)."""
    provider = vonage_provider(runtime)
    if provider is None:
        log.warning("vonage keyword reply not sent: vonage is not an SMS provider here")
        return False
    redis = runtime.directory.redis
    key = claim_key(runtime, inbound.message_uuid) if inbound.message_uuid else None
    if key is not None and not await redis.set(key, "1", nx=True, ex=CLAIM_TTL_SECONDS):
        log.info("vonage keyword reply already sent", inbound=inbound.message_uuid)
        return False
    ref = inbound.message_uuid or ""
    try:
        sent = await provider.reply(inbound.client_phone, inbound.our_number or "", text, ref)
    except ProviderError as exc:
        if exc.unsent and key is not None:
            await redis.delete(key)  # certainly not sent: a redelivery may try again
        log.warning("vonage keyword reply not sent", reason=exc.reason, unsent=exc.unsent)
        return False
    log.info("vonage keyword reply sent", provider_message_id=sent.provider_message_id)
    return True
