"""Answers to inbound SMS keywords (HELP, STOP, START, DONE), in the client's language.

The texts live with each language's phrasings (``shared.messages.languages``); this
picks the language and makes the text GSM-7, since a reply is an SMS like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace

from shared.messages.catalogue import CATALOGUE, base_language, text_language, texts
from shared.messages.phrasing import Replies
from shared.messages.sms_text import to_gsm7


def reply_language(
    client: str | None, word_languages: Sequence[str], clinic_default: str | None
) -> str:
    """The client's language when we know it and have texts for it; else the keyword's
    language (the one the clinic writes in, if the word is in several: "PARAR" is es
    and pt); else the clinic's default; else English."""
    if (base := base_language(client)) in CATALOGUE:
        return base
    ours = [w for w in word_languages if w in CATALOGUE]
    clinic = base_language(clinic_default)
    if ours:
        return clinic if clinic in ours else ours[0]
    return text_language(None, clinic_default)


def replies(language: str) -> Replies:
    """Every keyword reply in ``language`` (English for one we have no texts for)."""
    source = texts(language).replies
    return replace(source, **{f.name: to_gsm7(getattr(source, f.name)) for f in fields(source)})
