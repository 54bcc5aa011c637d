"""Inbound SMS keywords (the CTIA standard set plus DONE)."""

from __future__ import annotations

from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    DONE = "done"
    OTHER = "other"


_WORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT", "STOPALL"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
    **dict.fromkeys(("DONE", "DID IT", "COMPLETED"), Keyword.DONE),
}


def parse_keyword(body: str) -> Keyword:
    """Carriers match the whole message, case-insensitively, ignoring punctuation."""
    cleaned = " ".join(body.strip().strip(".!").upper().split())
    return _WORDS.get(cleaned, Keyword.OTHER)
