"""Small, kind HTML pages for the one-tap done link, in the client's language (the texts
are ``shared.messages``'s, ``PageTexts``; which language: ``links.py``).

No scripts and no external assets (a phone on a weak connection, and nothing that tells
a third party who opened it); they name no activity and no health detail, because
whoever holds the phone may see the screen (a digest's page names its activities only
when the clinic allows activity details). Each form is a plain POST button, usable with a
keyboard and a screen reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from shared.messages.pages import day_in_words, page_texts
from shared.messages.phrasing import Notice, PageTexts

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
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


def page(language: str, title: str, *paragraphs: str, form: str = "") -> str:
    body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return _PAGE.format(lang=escape(language), title=escape(title, quote=False), body=body + form)


def notice(language: str, which: Callable[[PageTexts], Notice]) -> str:
    """A page that only tells something: ``notice("es", lambda t: t.expired)``."""
    told = which(page_texts(language))
    return page(language, told.title, *told.lines)


def confirm(language: str, day: date) -> str:
    """The page a link opens: nothing is recorded until the button is pressed. The form
    has no action, so it posts back to the very URL that was opened."""
    t = page_texts(language)
    button = (
        f'<form method="post"><button type="submit">{escape(t.confirm_button, quote=False)}'
        "</button></form>"
    )
    tail = f"<p>{escape(t.not_yet, quote=False)}</p>"
    return page(
        language,
        t.confirm_title,
        t.confirm_for.format(day=day_in_words(t, day)),
        form=button + tail,
    )


@dataclass(frozen=True)
class DigestItem:
    """One line of the digest page, as the page shows it."""

    number: int
    purpose: str
    day: date | None  # None: its link cannot record any more (expired, unknown)
    done: bool
    activity: str | None = None  # only when the clinic allows activity details


def digest(language: str, items: Sequence[DigestItem], recorded: int | None = None) -> str:
    """The page a digest's link opens: each activity with its own button (a POST back to
    this URL naming the line), none recorded until one is pressed. ``recorded``: the
    line just recorded, thanked at the top."""
    t = page_texts(language)
    lines = "".join(_digest_line(t, item) for item in items)
    waiting = any(not item.done and item.day is not None for item in items)
    intro = t.digest_thanks if recorded is not None else t.digest_intro
    tail = t.digest_waiting if waiting else t.digest_all_done
    body = f"<p>{escape(intro, quote=False)}</p><ol>{lines}</ol><p>{escape(tail, quote=False)}</p>"
    title = t.digest_title.format(count=len(items)) if len(items) != 1 else t.digest_title_one
    return _PAGE.format(lang=escape(language), title=escape(title, quote=False), body=body)


def _digest_line(t: PageTexts, item: DigestItem) -> str:
    name = t.activity.format(number=item.number) + (f": {item.activity}" if item.activity else "")
    # Which kind of reminder the line was ("for today", "still time today").
    when = t.purposes.get(item.purpose, "")
    about = f"{day_in_words(t, item.day)}, {when}" if item.day is not None and when else ""
    head = f"<strong>{escape(name, quote=False)}</strong>"
    head += f"<br><small>{escape(about, quote=False)}</small>" if about else ""
    if item.done:
        return f'<li>{head}<br><span class="done">{escape(t.line_done, quote=False)}</span></li>'
    if item.day is None:
        return f"<li>{head}<br><small>{escape(t.line_gone, quote=False)}</small></li>"
    label = t.line_button.format(number=item.number)
    button = (
        f'<form method="post" action="?item={item.number}">'
        f'<button type="submit">{escape(label, quote=False)}</button></form>'
    )
    return f"<li>{head}{button}</li>"
