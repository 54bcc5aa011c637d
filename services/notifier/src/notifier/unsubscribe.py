"""Signed one-click unsubscribe tokens for email (RFC 8058); they name only opaque refs.

They do not expire: an unsubscribe link must keep working for as long as the email is kept.
The token is stateless, so it outlives a client's erasure: a click then changes nothing
(``applies``), or an old email could bring back an opt-out record naming an erased client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from shared.tokens import TokenError, read_claims, sign_claims


class Clients(Protocol):
    async def preferences(self, clinic_id: str, client_ref: str) -> object | None: ...


UNSUBSCRIBE_PATH = "/unsubscribe"
PURPOSE = "unsubscribe"


@dataclass(frozen=True)
class UnsubscribeClaims:
    clinic_id: str
    client_ref: str
    channel: str


def sign_unsubscribe(secrets: Sequence[str], claims: UnsubscribeClaims) -> str:
    return sign_claims(secrets, PURPOSE, asdict(claims))


def verify_unsubscribe(secrets: Sequence[str], token: str) -> UnsubscribeClaims | None:
    try:
        return UnsubscribeClaims(**read_claims(secrets, PURPOSE, token))
    except (TokenError, TypeError):
        return None


async def applies(clients: Clients, claims: UnsubscribeClaims) -> bool:
    """Whether the link's client is one the notifier holds (has preferences of): a
    link to an erased or unknown client is answered the same, and changes nothing."""
    return await clients.preferences(claims.clinic_id, claims.client_ref) is not None
