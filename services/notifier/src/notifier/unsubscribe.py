"""Signed one-click unsubscribe tokens for email (RFC 8058); they name only opaque refs.

They do not expire: an unsubscribe link must keep working for as long as the email is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from shared.tokens import TokenError, read_claims, sign_claims

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
