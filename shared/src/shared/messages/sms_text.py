"""SMS length and encoding: GSM-7 when every character fits, otherwise UCS-2.

A single GSM-7 message holds 160 characters, a multipart one 153 per segment (the
user data header takes the rest); UCS-2 holds 70, or 67 per segment. Characters of
the GSM-7 extension table (``^{}\\[~]|€``) take two septets.

One typographic character outside GSM-7 (a curly quote from a word processor, an en
dash, "…", an "í") switches the whole text to UCS-2 and more than halves what fits, so
texts are transliterated to a GSM-7 stand-in where the meaning survives ("smart
encoding"); text in another script stays UCS-2, untouched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

OPT_OUT_TEXT = "Reply STOP to opt out."
MAX_SMS_SEGMENTS = 2  # what one reminder may take, its done link whole
ELLIPSIS = "..."  # three GSM-7 dots: the single "…" is not GSM-7

_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = "^{}\\[~]|€\f"
_BASIC = frozenset(_GSM7_BASIC)
_EXTENDED = frozenset(_GSM7_EXTENDED)

# Stand-ins for characters that have no decomposition to a GSM-7 letter.
_STAND_INS: dict[str, str] = {
    # curly, low and angle quotes, primes and accents used as apostrophes
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    # hyphens, dashes and the minus sign
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    # spaces of other widths, and invisible joiners and soft hyphens
    **dict.fromkeys("\u00a0\u2002\u2003\u2007\u2009\u200a\u202f\u3000", " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    "\u2026": ELLIPSIS,
    "\u2022": "-",
    # letters without a decomposition (stroke l and d, the oe ligature, dotless i)
    "\u0142": "l",
    "\u0141": "L",
    "\u0111": "d",
    "\u0110": "D",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u0131": "i",
}
# A text that already says how to stop ("Reply STOP ..."): the keyword as a word, in
# capitals, so an activity "ride two stops" or a "Stopford Clinic" does not count.
_NAMES_STOP = re.compile(r"\bSTOP\b")
# Longest lead-in kept next to a link when the text around it is shortened ("Done? Tap").
_LEAD_IN_MAX = 20


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in _BASIC or c in _EXTENDED for c in text)


def measure(text: str) -> SmsLength:
    if is_gsm7(text):
        units = sum(2 if c in _EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2  # astral characters take two units
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SmsLength(encoding=encoding, units=units, segments=segments)


def _stand_in(char: str) -> str:
    if char in _BASIC or char in _EXTENDED:
        return char
    if char in _STAND_INS:
        return _STAND_INS[char]
    bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bare if bare and is_gsm7(bare) else char


def to_gsm7(text: str) -> str:
    """``text`` with GSM-7 stand-ins ("í" -> "i", a curly quote -> "'", "…" -> "..."), if
    that makes all of it GSM-7; otherwise ``text`` unchanged (another script keeps UCS-2)."""
    if is_gsm7(text):
        return text
    smart = "".join(_stand_in(c) for c in text)
    return smart if is_gsm7(smart) else text


def with_opt_out(text: str, first_to_number: bool, opt_out: str = OPT_OUT_TEXT) -> str:
    """The first message to a number tells how to stop (carrier rules, TCPA/CTIA)."""
    suffix = opt_out_suffix(text, first_to_number, opt_out)
    return text.rstrip() + suffix if suffix else text


def opt_out_suffix(text: str, first_to_number: bool, opt_out: str = OPT_OUT_TEXT) -> str:
    """``opt_out`` is the line in the message's language; every one names STOP."""
    if not first_to_number or _NAMES_STOP.search(text):
        return ""
    return f" {to_gsm7(opt_out)}"


def _fits(text: str, max_segments: int) -> bool:
    return measure(text).segments <= max_segments


def _cut(words: list[str], kept: int) -> str:
    """The first ``kept`` words, with "..." when some were left out."""
    if kept >= len(words):
        return " ".join(words)
    return " ".join(words[:kept]) + ELLIPSIS if kept else ""


def _count(words: list[str]) -> int:
    """Words, not counting a lone mark ("Fait ? Touchez" is two: French spaces its "?")."""
    return sum(1 for w in words if any(c.isalnum() for c in w))


@dataclass(frozen=True)
class _Parts:
    """A text around the one thing that must survive whole (the done link)."""

    body: list[str]  # words before the lead-in
    lead: str  # the few words right before the link ("Done? Tap")
    keep: str
    tail: list[str]  # words after the link
    tail_text: str  # ...as written (so "<link>." keeps its dot)

    @classmethod
    def of(cls, text: str, keep: str | None) -> _Parts:
        if not keep or keep not in text:
            return cls(text.split(" "), "", "", [], "")
        head, _, tail = text.partition(keep)
        words = head.split()
        lead: list[str] = []
        while words and len(" ".join([words[-1], *lead])) <= _LEAD_IN_MAX and _count(lead) < 2:
            lead.insert(0, words.pop())
        return cls(words, " ".join(lead), keep, tail.split(), tail)

    def join(self, body: int, tail: int, lead: bool = True) -> str:
        tail_text = self.tail_text if tail >= len(self.tail) else " " + _cut(self.tail, tail)
        pieces = (_cut(self.body, body), self.lead if lead else "", self.keep)
        return " ".join(p for p in pieces if p) + tail_text.rstrip()


def fit(text: str, max_segments: int, keep: str | None = None, suffix: str = "") -> str:
    """``text`` + ``suffix`` in at most ``max_segments``: words are left out (marked
    "...") after ``keep``, then before it, never ``keep`` itself (the done link) nor
    ``suffix`` (the opt-out line). Only a text that cannot fit even so comes out longer."""
    if _fits(text + suffix, max_segments):
        return text + suffix
    parts = _Parts.of(text, keep)
    for tail in range(len(parts.tail) - 1, -1, -1):
        if _fits(candidate := parts.join(len(parts.body), tail) + suffix, max_segments):
            return candidate
    lowest = 0 if parts.keep else 1  # without a link, keep at least a word
    for body in range(len(parts.body) - 1, lowest - 1, -1):
        if _fits(candidate := parts.join(body, 0) + suffix, max_segments):
            return candidate
    if parts.keep:
        return parts.join(0, 0, lead=False) + suffix
    return _chars(parts.body[0] if parts.body else "", max_segments, suffix)


def _chars(word: str, max_segments: int, suffix: str) -> str:
    """One word too long for the message on its own: cut it by characters."""
    while word and not _fits(word + ELLIPSIS + suffix, max_segments):
        word = word[:-1]
    return word + ELLIPSIS + suffix


def sms_text(
    text: str,
    *,
    link: str | None,
    first_to_number: bool,
    max_segments: int,
    opt_out: str = OPT_OUT_TEXT,
) -> str:
    """The text an SMS carries: GSM-7 where it can be, within ``max_segments``, with the
    link whole and the opt-out line (``Rendered.opt_out``: in the message's language) on
    the first message to a number."""
    text = to_gsm7(text.strip())
    suffix = opt_out_suffix(text, first_to_number, opt_out)
    return fit(text, max_segments, keep=link, suffix=suffix)
