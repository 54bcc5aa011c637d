"""Keep PHI out of what the dashboard shows: provider reasons can echo a number or address."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{4,}\d")


def scrub(text: str, limit: int = 120) -> str:
    """A failure reason with e-mail addresses and phone-like digit runs removed."""
    return _DIGITS.sub("[number]", _EMAIL.sub("[address]", text))[:limit]
