"""The pages a client opens from a message, in the client's language: which language,
and the little formatting their texts need (a date in words).

The texts live beside each language's messages (``languages/<code>.py``, ``PageTexts``),
so a translator edits one file; each service writes the HTML around them (the tracker's
done and digest pages, the notifier's email unsubscribe page).

Which language: the client's when the service knows it (the notifier keeps it with the
contacts); else the first of the browser's languages (Accept-Language, the phone's: the
best guess at the client's own when the service does not know it) that we have texts
for; else the clinic's default; else English. The client's language always wins, so a
page reads like the message it came from.
"""

from __future__ import annotations

from datetime import date

from shared.messages.catalogue import CATALOGUE, FALLBACK, base_language, texts
from shared.messages.phrasing import PageTexts

# A browser sends a handful; a longer header is not worth reading through.
_MAX_ACCEPTED = 16


def accepted(header: str | None) -> list[str]:
    """The languages of an Accept-Language header (RFC 9110), most wanted first: "*",
    ones refused with q=0 and ones that do not parse are left out."""
    weighted: list[tuple[float, str]] = []
    for item in (header or "").split(",")[:_MAX_ACCEPTED]:
        tag, _, params = item.strip().partition(";")
        weight = _weight(params)
        if tag and tag != "*" and weight > 0:
            weighted.append((weight, tag.strip()))
    weighted.sort(key=lambda pair: -pair[0])  # stable: equal weights keep their order
    return [tag for _, tag in weighted]


def _weight(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if not name:
        return 1.0
    try:
        weight = float(value) if name.strip().lower() == "q" else 0.0
    except ValueError:
        return 0.0
    return weight if 0.0 <= weight <= 1.0 else 0.0


def page_language(
    client: str | None, accept_language: str | None, clinic_default: str | None
) -> str:
    """The built-in language a page is written in (see the module's docstring)."""
    for tag in (client, *accepted(accept_language), clinic_default):
        base = base_language(tag)
        if base in CATALOGUE:
            return base
    return FALLBACK


def page_texts(language: str) -> PageTexts:
    """Every page text in ``language`` (English for one we have no texts for)."""
    return texts(language).pages


def day_in_words(pages: PageTexts, day: date) -> str:
    """ "Thursday 3 December", "jueves 3 de diciembre": no year, the link is days old."""
    return pages.day.format(
        weekday=pages.weekdays.split()[day.weekday()],
        day=day.day,
        month=pages.months.split()[day.month - 1],
    )
