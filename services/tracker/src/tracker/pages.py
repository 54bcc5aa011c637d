"""Small, kind HTML pages for the one-tap done link (no scripts, no external assets)."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f6f7f4;color:#1f2a24;margin:0;
display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:14px;padding:2rem 2.2rem;max-width:28rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}}
h1{{font-size:1.4rem;margin:0 0 .6rem}} p{{line-height:1.5;margin:.4rem 0}}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def page(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return _PAGE.format(title=escape(title), body=body)


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
UNAVAILABLE = page(
    "Please try again in a moment",
    "We could not save this right now. Nothing is lost - tap the link again shortly.",
)
