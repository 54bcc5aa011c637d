"""Signed tokens for links in messages: the one-tap "done" link (the notifier signs, the
tracker verifies, it expires) and the email unsubscribe link (the notifier both signs and
verifies it).

Format: ``base64url(json claims) "." base64url(HMAC-SHA256(secret, purpose "." claims))``.
The purpose keeps one kind of token from being accepted as another. Claims carry only
opaque references, never contact points or activity titles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

MAX_TOKEN = 2048


class TokenError(ValueError):
    """Why a token was refused: ``malformed``, ``signature`` or ``expired``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DoneClaims:
    clinic_id: str
    assignment_id: str
    client_ref: str
    occurrence_date: str  # ISO local date
    reminder_id: str
    expires_at: int  # unix seconds

    @property
    def occurrence(self) -> date:
        return date.fromisoformat(self.occurrence_date)


DONE_PURPOSE = "done"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, body: str) -> str:
    message = f"{purpose}.{body}".encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def sign_claims(secret: str, purpose: str, claims: Mapping[str, object]) -> str:
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, purpose, body)}"


def read_claims(secret: str, purpose: str, token: str) -> dict[str, Any]:
    """The claims of a token signed for ``purpose``; ``TokenError`` otherwise."""
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac or len(token) > MAX_TOKEN:
        raise TokenError("malformed", "the link is incomplete or damaged")
    if not hmac.compare_digest(mac, _mac(secret, purpose, body)):
        raise TokenError("signature", "the link's signature does not match")
    try:
        claims = json.loads(_unb64(body))
    except ValueError as exc:
        raise TokenError("malformed", "the link's contents cannot be read") from exc
    if not isinstance(claims, dict):
        raise TokenError("malformed", "the link's contents cannot be read")
    return claims


def sign_done_token(
    secret: str,
    *,
    clinic_id: str,
    assignment_id: str,
    client_ref: str,
    occurrence: date,
    reminder_id: str,
    ttl: timedelta = timedelta(days=3),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = DoneClaims(
        clinic_id=clinic_id,
        assignment_id=assignment_id,
        client_ref=client_ref,
        occurrence_date=occurrence.isoformat(),
        reminder_id=reminder_id,
        expires_at=int((issued + ttl).timestamp()),
    )
    return sign_claims(secret, DONE_PURPOSE, asdict(claims))


def verify_done_token(secret: str, token: str, *, now: datetime | None = None) -> DoneClaims:
    raw = read_claims(secret, DONE_PURPOSE, token)
    try:
        claims = DoneClaims(**raw)
        claims.occurrence  # noqa: B018 (validates the date)
    except (ValueError, TypeError) as exc:
        raise TokenError("malformed", "the link's contents cannot be read") from exc
    if (now or datetime.now(UTC)).timestamp() > claims.expires_at:
        raise TokenError("expired", "the link has expired")
    return claims


# The tracker serves the one-tap link at this path; the notifier builds links with it.
DONE_PATH = "/done"


def done_link(public_base_url: str, token: str) -> str:
    """The URL a client taps: ``<tracker public base>/done/<token>``."""
    return f"{public_base_url.rstrip('/')}{DONE_PATH}/{token}"
