"""Signed tokens that must carry their claims (the email one-click unsubscribe link,
which works without any stored state for as long as the email is kept).

Format: ``base64url(json claims) "." base64url(HMAC-SHA256(secret, purpose "." claims))``.
The purpose keeps one kind of token from being accepted as another. Claims carry only
opaque references, never contact points or activity titles.

Secrets are a list, newest first: the newest signs, every one verifies, so a secret can
be rotated without breaking links already sent. (The short done link is in ``links``.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TOKEN = 2048


class TokenError(ValueError):
    """Why a token was refused: ``malformed`` or ``signature``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, body: str) -> str:
    message = f"{purpose}.{body}".encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def sign_claims(secrets: Sequence[str], purpose: str, claims: Mapping[str, object]) -> str:
    """A token signed with the newest secret."""
    if not secrets:
        raise ValueError("no secret configured to sign tokens")
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_mac(secrets[0], purpose, body)}"


def read_claims(secrets: Sequence[str], purpose: str, token: str) -> dict[str, Any]:
    """The claims of a token signed for ``purpose`` by any of ``secrets``; else ``TokenError``."""
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac or len(token) > MAX_TOKEN:
        raise TokenError("malformed", "the link is incomplete or damaged")
    if not any(hmac.compare_digest(mac, _mac(s, purpose, body)) for s in secrets):
        raise TokenError("signature", "the link's signature does not match")
    try:
        claims = json.loads(_unb64(body))
    except ValueError as exc:
        raise TokenError("malformed", "the link's contents cannot be read") from exc
    if not isinstance(claims, dict):
        raise TokenError("malformed", "the link's contents cannot be read")
    return claims
