"""Signed, expiring one-tap "done" tokens: the notifier signs them, the tracker verifies.

Format: ``base64url(json claims) "." base64url(HMAC-SHA256(secret, claims part))``.
The claims carry only opaque references, never contact points or activity titles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


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
    body = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_done_token(secret: str, token: str, *, now: datetime | None = None) -> DoneClaims:
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac or len(token) > 2048:
        raise TokenError("malformed", "the link is incomplete or damaged")
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise TokenError("signature", "the link's signature does not match")
    try:
        claims = DoneClaims(**json.loads(_unb64(body)))
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
