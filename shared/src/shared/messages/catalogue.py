"""The built-in texts by language, which language a client reads, and which phrasing.

Variety: a client who reads the same sentence every day stops reading it
(habituation), so each purpose has several phrasings and a client moves to the next one
each day, starting from an offset of their own. Stepping by one day guarantees that a
daily reminder never repeats the previous day's sentence (a hash per day would, one day
in three). The reminder, sent most often, has five phrasings, a prime, so any schedule
whose days are not five apart (every other day, twice a week, weekly) cycles through
all of them. The choice depends
only on the client, the purpose and the day, so a redelivered reminder renders the same
text and the console can show what will be sent.
"""

from __future__ import annotations

import hashlib
from datetime import date

from shared.contracts import ReminderPurpose
from shared.messages.languages import en, es, fr, pt
from shared.messages.phrasing import LanguageTexts, Phrasing

CATALOGUE: dict[str, LanguageTexts] = {t.code: t for t in (en.TEXTS, es.TEXTS, fr.TEXTS, pt.TEXTS)}
LANGUAGES = tuple(CATALOGUE)
FALLBACK = "en"


def base_language(tag: str | None) -> str | None:
    """The language without its region (es-MX -> es); None for no tag."""
    return tag.split("-", maxsplit=1)[0].lower() if tag else None


def text_language(client: str | None, clinic_default: str | None) -> str:
    """The built-in language to write in: the client's, else the clinic's default, else
    English (a language we have no texts for falls through, "de" -> the clinic's)."""
    for tag in (client, clinic_default):
        base = base_language(tag)
        if base in CATALOGUE:
            return base
    return FALLBACK


def texts(language: str) -> LanguageTexts:
    return CATALOGUE.get(base_language(language) or FALLBACK) or CATALOGUE[FALLBACK]


def phrasings(
    language: LanguageTexts, purpose: ReminderPurpose, count: int = 1
) -> tuple[Phrasing, ...]:
    """A purpose's phrasings; several reminders in one message (a digest) have their own."""
    return language.digest if count > 1 else language.phrasings[purpose]


def variant(key: str, purpose: str, day: date | None, choices: int) -> int:
    """Which of ``choices`` phrasings: the client's own offset plus the day. No key (a
    preview of the default text) is the first phrasing."""
    if not key or choices <= 1:
        return 0
    digest = hashlib.blake2b(f"{key}\x1f{purpose}".encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big")
    return (offset + (day.toordinal() if day else 0)) % choices
