"""Signed one-click unsubscribe tokens for email (RFC 8058); they name only opaque refs.
And the page a person who opens the link sees, in the client's language.

They do not expire: an unsubscribe link must keep working for as long as the email is kept.
The token is stateless, so it outlives a client's erasure: a click then changes nothing
(``applies``), or an old email could bring back an opt-out record naming an erased client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Protocol

from shared.contracts import ClientPreferencesChanged, ClinicPolicy
from shared.messages.pages import page_language, page_texts
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


# -- the page ---------------------------------------------------------------------------


class Directory(Protocol):
    async def preferences(
        self, clinic_id: str, client_ref: str
    ) -> ClientPreferencesChanged | None: ...

    async def policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None: ...


async def page_language_of(
    directory: Directory, claims: UnsubscribeClaims | None, accept_language: str | None
) -> str:
    """The client's language (the one their emails are written in), else the browser's,
    else the clinic's default, else English (``shared.messages.pages``)."""
    if claims is None:
        return page_language(None, accept_language, None)
    prefs = await directory.preferences(claims.clinic_id, claims.client_ref)
    policy = await directory.policy(claims.clinic_id, "")  # "": the clinic's latest
    clinic = policy.messaging.default_language if policy is not None else None
    return page_language(prefs.language if prefs else None, accept_language, clinic)


# The form posts back to the page's own URL, as a one-click mail client would (RFC 8058).
_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
</head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1>{heading}</h1>{body}</body></html>"""
_FORM = """<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">{button}</button></form>"""


def question_page(language: str) -> str:
    """What opening the link shows: a question and one button; nothing changes yet."""
    t = page_texts(language)
    body = f"<p>{_text(t.unsubscribe_text)}</p>" + _FORM.format(button=_text(t.unsubscribe_button))
    return _html(language, t.unsubscribe_title, t.unsubscribe_question, body)


def done_page(language: str) -> str:
    """What the button (or a mail client's one-click POST) gets back."""
    told = page_texts(language).unsubscribed
    body = "".join(f"<p>{_text(line)}</p>" for line in told.lines)
    return _html(language, told.title, told.title, body)


def _html(language: str, title: str, heading: str, body: str) -> str:
    return _PAGE.format(lang=_text(language), title=_text(title), heading=_text(heading), body=body)


def _text(text: str) -> str:
    return escape(text, quote=False)
