"""SMS length and encoding: GSM-7 when every character fits, otherwise UCS-2.

A single GSM-7 message holds 160 characters, a multipart one 153 per segment (the
user data header takes the rest); UCS-2 holds 70, or 67 per segment. Characters of
the GSM-7 extension table (``^{}\\[~]|€``) take two septets.
"""

from __future__ import annotations

from dataclasses import dataclass

OPT_OUT_TEXT = "Reply STOP to opt out."

_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = "^{}\\[~]|€\f"
_BASIC = frozenset(_GSM7_BASIC)
_EXTENDED = frozenset(_GSM7_EXTENDED)


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


def with_opt_out(text: str, first_to_number: bool) -> str:
    """The first message to a number tells how to stop (carrier rules, TCPA/CTIA)."""
    if not first_to_number or "STOP" in text.upper():
        return text
    return f"{text.rstrip()} {OPT_OUT_TEXT}"


def fit(text: str, max_segments: int) -> str:
    """Shorten ``text`` on a word boundary so it takes at most ``max_segments``."""
    if measure(text).segments <= max_segments:
        return text
    words = text.split(" ")
    while len(words) > 1 and measure(" ".join(words) + "…").segments > max_segments:
        words.pop()
    return " ".join(words) + "…"
