"""Small, kind HTML pages for the one-tap done link.

No scripts and no external assets (a phone on a weak connection, and nothing that tells
a third party who opened it); they name no activity and no health detail, because
whoever holds the phone may see the screen (a digest's page names its activities only
when the clinic allows activity details). Each form is a plain POST button, usable with a
keyboard and a screen reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f6f7f4;color:#1f2a24;margin:0;
display:flex;min-height:100vh;align-items:center;justify-content:center;font-size:1.1rem}}
main{{background:#fff;border-radius:14px;padding:1.6rem 1.8rem;margin:1rem;max-width:28rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}}
h1{{font-size:1.4rem;margin:0 0 .6rem}} p{{line-height:1.5;margin:.4rem 0}}
button{{font:inherit;font-weight:600;color:#fff;background:#2f6b4f;border:0;
border-radius:10px;padding:.8rem 1.4rem;margin:.8rem 0 .4rem;min-height:48px;width:100%;
cursor:pointer}}
button:hover{{background:#245a41}}
ol{{padding:0;list-style:none}} li{{border-top:1px solid #e3e6e0;padding:.6rem 0}}
li button{{margin:.4rem 0 0}} .done{{color:#2f6b4f;font-weight:600}}
button:focus-visible{{outline:3px solid #1f2a24;outline-offset:3px}}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def page(title: str, *paragraphs: str, form: str = "") -> str:
    body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return _PAGE.format(title=escape(title, quote=False), body=body + form)


def _day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def confirm(day: date) -> str:
    """The page a link opens: nothing is recorded until the button is pressed. The form
    has no action, so it posts back to the very URL that was opened."""
    button = '<form method="post"><button type="submit">Yes, mark it as done</button></form>'
    return page(
        "Did you get to your practice?",
        f"This is for {_day(day)}. One tap lets your clinic know.",
        form=button + "<p>Not yet? That's fine - you can close this page.</p>",
    )


RECORDED = page(
    "Thank you - it's recorded",
    "Your activity is marked as done. Every bit of practice counts.",
    "You can close this page.",
)
ALREADY = page(
    "Already recorded",
    "This activity was already marked as done - nothing more to do.",
    "You can close this page.",
)
EXPIRED = page(
    "This link has expired",
    "For your privacy, done links only work for a few days.",
    "If you did the activity, you can tell your clinic or reply DONE to the latest text.",
)
INVALID = page(
    "This link does not work",
    "The link looks incomplete or changed. Please use the link exactly as it was sent.",
)
NOT_READY = page(
    "This link is not ready yet",
    "If the message just arrived, please try again in a minute.",
    "If it is an older message, the link may no longer work: your next reminder will "
    "have a fresh one.",
)
OUTDATED = page(
    "This link is from an older version",
    "Reminder links have changed, and this one no longer works. Nothing is wrong on your side.",
    "Your next reminder will have a fresh link. If you did the activity, you can tell your "
    "clinic or reply DONE to the latest text.",
)
UNAVAILABLE = page(
    "Please try again in a moment",
    "We could not save this right now. Nothing is lost - please try again shortly.",
)


# Purposes as a client reads them (a digest's line says which kind of reminder it is).
_PURPOSE_WORDS = {
    "reminder": "for today",
    "nudge": "still time today",
    "lead": "coming up",
}


@dataclass(frozen=True)
class DigestItem:
    """One line of the digest page, as the page shows it."""

    number: int
    purpose: str
    day: date | None  # None: its link cannot record any more (expired, unknown)
    done: bool
    activity: str | None = None  # only when the clinic allows activity details


def digest(items: Sequence[DigestItem], recorded: int | None = None) -> str:
    """The page a digest's link opens: each activity with its own button (a POST back to
    this URL naming the line), none recorded until one is pressed. ``recorded``: the
    line just recorded, thanked at the top."""
    lines = "".join(_digest_line(item) for item in items)
    waiting = sum(1 for item in items if not item.done and item.day is not None)
    intro = (
        "Thank you - it's recorded. Every bit of practice counts."
        if recorded is not None
        else "Tap the ones you got to. Each tap lets your clinic know."
    )
    tail = (
        "Not yet? That's fine - you can close this page."
        if waiting
        else "All done here - you can close this page."
    )
    body = f"<p>{escape(intro, quote=False)}</p><ol>{lines}</ol><p>{escape(tail, quote=False)}</p>"
    title = f"{len(items)} activities" if len(items) != 1 else "Your activity"
    return _PAGE.format(title=escape(title, quote=False), body=body)


def _digest_line(item: DigestItem) -> str:
    name = f"Activity {item.number}" + (f": {item.activity}" if item.activity else "")
    when = _PURPOSE_WORDS.get(item.purpose, "")
    about = f"{_day(item.day)}, {when}" if item.day is not None and when else ""
    head = f"<strong>{escape(name, quote=False)}</strong>"
    head += f"<br><small>{escape(about, quote=False)}</small>" if about else ""
    if item.done:
        return f'<li>{head}<br><span class="done">Done - thank you</span></li>'
    if item.day is None:
        return f"<li>{head}<br><small>This link no longer records it.</small></li>"
    button = (
        f'<form method="post" action="?item={item.number}">'
        f'<button type="submit">Mark activity {item.number} as done</button></form>'
    )
    return f"<li>{head}{button}</li>"
