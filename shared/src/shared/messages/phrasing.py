"""What one language says: the phrasings of every purpose and the keyword replies.

A lead is Jinja source that follows "<clinic name>: " and starts in lower case; it may
hold ``{{ detail }}`` (" (the activity's title)" when the clinic allows details, else
nothing) and, in a digest, ``{{ count }}``. A subject follows "<clinic name>: " too and
never names the activity (it shows in inboxes and on lock screens). Each phrasing is
short and kind, never says "homework" or its translations, and with the longest clinic
name and tracker link still fits one SMS (tests/unit/test_messages_catalogue.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts import ReminderPurpose


@dataclass(frozen=True)
class Phrasing:
    lead: str
    subject: str


@dataclass(frozen=True)
class Replies:
    """Answers to inbound SMS keywords (each names the keywords of its own language)."""

    help: str
    stopped: str  # after STOP, when the provider did not confirm it already
    started: str  # after START, likewise
    done: str  # DONE was recorded
    done_unknown: str  # DONE, but no recent reminder for the number


@dataclass(frozen=True)
class LanguageTexts:
    code: str  # ISO 639-1
    greeting: str  # opens an email
    done_prompt: str  # right before the done link ("Done? Tap")
    mark_done: str  # the email's link text
    see_them: str  # the email's link text in a digest
    footer: str  # closes an email
    opt_out: str  # on the first SMS to a number; names STOP, which carriers honour
    phrasings: Mapping[ReminderPurpose, tuple[Phrasing, ...]]
    digest: tuple[Phrasing, ...]  # several reminders in one message
    replies: Replies
