"""Signed one-click unsubscribe tokens for email (RFC 8058); they name only opaque refs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

UNSUBSCRIBE_PATH = "/unsubscribe"


@dataclass(frozen=True)
class UnsubscribeClaims:
    clinic_id: str
    client_ref: str
    channel: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), b"unsubscribe." + body.encode(), hashlib.sha256).digest()
    return _b64(digest)


def sign_unsubscribe(secret: str, claims: UnsubscribeClaims) -> str:
    body = _b64(json.dumps(claims.__dict__, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_unsubscribe(secret: str, token: str) -> UnsubscribeClaims | None:
    body, _, mac = token.partition(".")
    if not body or not mac or len(token) > 1024:
        return None
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return UnsubscribeClaims(**data)
    except (ValueError, TypeError):
        return None
