"""Message text: kind defaults with the minimum PHI, clinic overrides per language.

Clinic templates are Jinja2 run in a sandbox (no attribute tricks, no imports), with
autoescaping for HTML, so neither a template nor a value in it can do harm. The
activity's title reaches a template only when the clinic allows activity details;
subjects and push titles never carry it (they show on lock screens and in inboxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from shared.contracts import Messaging, ReminderPurpose
from shared.logging import get_logger

log = get_logger("shared.messages.templates")

PARTS = ("sms", "subject", "text", "html", "push_title", "push_body")
# Every default SMS with its link fits one GSM-7 segment (160) for a clinic name of up
# to 30 characters and a tracker base URL of up to 40: "<name>: " + lead + link line
# leaves 53 characters for the lead (tests/notifier/test_sms_fit.py holds it to that).
_LINK_LINE = "{% if done_link %} Done? Tap {{ done_link }}{% endif %}"
_DETAIL = "{% if activity %} ({{ activity }}){% endif %}"

_LEADS: dict[ReminderPurpose, str] = {
    ReminderPurpose.REMINDER: "an activity is waiting for you today" + _DETAIL + ".",
    ReminderPurpose.NUDGE: "still time for today's activity" + _DETAIL + ". Small steps count.",
    ReminderPurpose.LEAD: "an activity is coming up soon" + _DETAIL + ". You've got this.",
    ReminderPurpose.ENCOURAGEMENT: "nice work on your activity. Every step counts.",
}
# Several reminders of one client in one delivery window travel as one message (a
# digest) that names the count; its link opens a page listing them, each with its own
# done button. ``count`` is how many; 1 renders the purpose's own text.
_DIGEST_LEAD = "{{ count }} activities are waiting for you today."


def _defaults(purpose: ReminderPurpose, count: int = 1) -> dict[str, str]:
    lead = _DIGEST_LEAD if count > 1 else _LEADS[purpose]
    link = "" if purpose is ReminderPurpose.ENCOURAGEMENT else _LINK_LINE
    html_link = (
        ""
        if purpose is ReminderPurpose.ENCOURAGEMENT
        else '{% if done_link %}<p><a href="{{ done_link }}">Mark it done</a></p>{% endif %}'
    )
    subject = (
        "{{ clinic_name }}: well done"
        if purpose is ReminderPurpose.ENCOURAGEMENT
        else "{{ clinic_name }}: an activity is waiting"
    )
    return {
        "sms": "{{ clinic_name }}: " + lead + link,
        "subject": subject,
        "text": "Hello,\n\n{{ clinic_name }}: " + lead + link + "\n\n{{ footer }}\n",
        "html": "<p>Hello,</p><p>{{ clinic_name }}: "
        + lead
        + "</p>"
        + html_link
        + "<p><small>{{ footer }}</small></p>",
        "push_title": "{{ clinic_name }}",
        "push_body": lead[:1].upper() + lead[1:],
    }


@dataclass(frozen=True)
class Rendered:
    sms: str
    subject: str
    text: str
    html: str
    push_title: str
    push_body: str


@dataclass(frozen=True)
class RenderInput:
    purpose: ReminderPurpose
    clinic_name: str
    activity_title: str
    allow_activity_details: bool
    done_link: str | None
    footer: str = "You can stop these messages at any time."
    count: int = 1  # reminders in this message; more than 1 is a digest


class _Silent(Undefined):
    """An unknown variable renders as nothing rather than failing the send."""

    def __str__(self) -> str:
        return ""


@lru_cache(maxsize=2)
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=html, undefined=_Silent)


@lru_cache(maxsize=1024)
def _compile(source: str, html: bool) -> Any:
    return _environment(html).from_string(source)


def pick_language(client: str | None, messaging: Messaging | None) -> str:
    return client or (messaging.default_language if messaging else "en")


def _override(messaging: Messaging | None, language: str, purpose: str, part: str) -> str | None:
    if messaging is None:
        return None
    base = language.split("-", maxsplit=1)[0]
    for lang in dict.fromkeys((language, base, messaging.default_language)):
        table = messaging.templates.get(lang) or {}
        source = table.get(f"{purpose}.{part}") or table.get(part)
        if source:
            return source
    return None


def render(data: RenderInput, messaging: Messaging | None, language: str) -> Rendered:
    variables = {
        "clinic_name": data.clinic_name,
        "activity": data.activity_title if data.allow_activity_details else None,
        "done_link": data.done_link,
        "purpose": data.purpose.value,
        "footer": data.footer,
        "count": data.count,
    }
    defaults = _defaults(data.purpose, data.count)
    out: dict[str, str] = {}
    for part in PARTS:
        html = part == "html"
        source = _override(messaging, language, data.purpose.value, part)
        text = _render_one(source, variables, html) if source else None
        out[part] = text if text is not None else _compile(defaults[part], html).render(variables)
    # Lock screens and subjects never name the activity, whatever a template says.
    if data.activity_title and data.activity_title in out["subject"] + out["push_title"]:
        out["subject"] = _compile(defaults["subject"], False).render(variables)
        out["push_title"] = data.clinic_name
    return Rendered(**{k: v.strip() for k, v in out.items()})


def _render_one(source: str, variables: dict[str, Any], html: bool) -> str | None:
    try:
        return str(_compile(source, html).render(variables))
    except TemplateError as exc:  # includes sandbox SecurityError: fall back to the default
        log.warning("clinic template failed; using the default", error=type(exc).__name__)
        return None
