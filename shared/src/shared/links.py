"""Short one-tap "done" links: ``<tracker public base>/d/<code>``.

A signed token naming clinic, assignment, client and day runs to 330-410 characters
with realistic ids, which no SMS can carry. The code is 21 URL-safe characters instead:

    <key id: 1> <reference: 14> <check: 6>

- the reference is an HMAC of the reminder (clinic and reminder id) under the newest
  link secret: the same reminder always gets the same code (a re-sent message keeps a
  working link), and nobody can derive one without the secret;
- the check is an HMAC of the key id and reference, so the tracker refuses a made-up or
  damaged code without looking anything up;
- the key id says which secret made it. Secrets are a list, newest first: the newest
  makes codes, every one still verifies them, so rotating a secret keeps sent links
  working until they expire.
The tracker learns what a code stands for (and until when it is valid) from the
notifier's ``notification.dispatched``; the code itself carries no health information.

A digest (one message for several reminders) carries one link of the same shape,
``<tracker public base>/g/<code>``, to a page listing its reminders (``digest_code``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

DONE_PATH = "/d"
DIGEST_PATH = "/g"  # a page listing a digest's reminders, each with its own done button
CODE_LENGTH = 21
_REFERENCE = 14
_CHECK = 6
_SHAPE = re.compile(rf"^[A-Za-z0-9_-]{{{CODE_LENGTH}}}$")


class LinkKeyError(ValueError):
    """No secret was configured to make or check link codes."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: str, message: str) -> str:
    return _b64(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest())


def key_id(secret: str) -> str:
    """One URL-safe character naming a secret (two secrets may share one: both are tried)."""
    return _mac(secret, "link-key-id")[0]


def _check(secret: str, kid: str, reference: str) -> str:
    return _mac(secret, f"done-check|{kid}|{reference}")[:_CHECK]


def _code(secrets: Sequence[str], what: str) -> str:
    if not secrets:
        raise LinkKeyError("no link secret configured")
    secret = secrets[0]
    kid = key_id(secret)
    reference = _mac(secret, what)[:_REFERENCE]
    return kid + reference + _check(secret, kid, reference)


def done_code(secrets: Sequence[str], clinic_id: str, reminder_id: str) -> str:
    """The code for one reminder's done link, made with the newest secret."""
    return _code(secrets, f"done|{clinic_id}|{reminder_id}")


def digest_code(secrets: Sequence[str], clinic_id: str, reminder_id: str) -> str:
    """The code for a digest's link (one message for several reminders), named by the
    reminder the message was sent for: never the same as that reminder's done code, so
    neither link can stand for the other. The same shape and check as a done code; the
    tracker tells them apart by the path (``DIGEST_PATH``) and by what it recorded."""
    return _code(secrets, f"digest|{clinic_id}|{reminder_id}")


def is_authentic(secrets: Sequence[str], code: str) -> bool:
    """True when one of the secrets made this code (its shape and check are right)."""
    if not _SHAPE.fullmatch(code):
        return False
    kid, reference, check = code[0], code[1 : 1 + _REFERENCE], code[1 + _REFERENCE :]
    return any(
        hmac.compare_digest(check, _check(secret, kid, reference))
        for secret in secrets
        if key_id(secret) == kid
    )


def done_url(public_base_url: str, code: str) -> str:
    """The URL a client taps."""
    return f"{public_base_url.rstrip('/')}{DONE_PATH}/{code}"


def digest_url(public_base_url: str, code: str) -> str:
    """The URL of a digest's page: as short as a done link, so it fits the same SMS."""
    return f"{public_base_url.rstrip('/')}{DIGEST_PATH}/{code}"
