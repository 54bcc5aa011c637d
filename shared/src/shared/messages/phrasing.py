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
class Notice:
    """A page that only tells something: its title and paragraphs."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class PageTexts:
    """The pages a client opens from a message: the done link's, the digest's and the
    email unsubscribe page (``shared.messages.pages``). Like the messages they name no
    activity and no health detail: whoever holds the phone may see the screen."""

    weekdays: str  # the seven names, Monday first, between spaces
    months: str  # the twelve names, January first, between spaces
    day: str  # a date in words: {weekday}, {day} (of the month), {month}
    # The done link (``/d/``): a question and one button, then what happened.
    confirm_title: str
    confirm_for: str  # {day}
    confirm_button: str
    not_yet: str  # under the button: not doing it is fine
    recorded: Notice
    already: Notice
    expired: Notice
    invalid: Notice  # made up or damaged
    not_ready: Notice  # authentic, but its send is not recorded yet
    outdated: Notice  # a link format of earlier versions
    unavailable: Notice  # the store did not answer
    # A digest's page (``/g/``): its activities, each with a button.
    digest_title: str  # {count}
    digest_title_one: str
    digest_intro: str
    digest_thanks: str  # after a button was pressed
    digest_waiting: str  # some still open
    digest_all_done: str
    activity: str  # {number}
    purposes: Mapping[str, str]  # reminder, nudge, lead: which kind of reminder a line was
    line_done: str
    line_gone: str  # its link can no longer record it
    line_button: str  # {number}
    # The email unsubscribe page (RFC 8058 one-click, and a person's button).
    unsubscribe_title: str
    unsubscribe_question: str
    unsubscribe_text: str
    unsubscribe_button: str
    unsubscribed: Notice


@dataclass(frozen=True)
class LanguageTexts:
    code: str  # ISO 639-1
    greeting: str  # opens an email
    done_prompt: str  # right before the done link ("Done? Tap")
    see_prompt: str  # right before a digest's link, which opens a list ("See them:")
    mark_done: str  # the email's link text
    see_them: str  # the email's link text in a digest
    footer: str  # closes an email
    opt_out: str  # on the first SMS to a number; names STOP, which carriers honour
    phrasings: Mapping[ReminderPurpose, tuple[Phrasing, ...]]
    digest: tuple[Phrasing, ...]  # several reminders in one message
    replies: Replies
    pages: PageTexts
