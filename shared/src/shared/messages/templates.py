"""Message text: kind defaults with the minimum PHI, clinic overrides per language.

The defaults come from the catalogue (English, Spanish, French, Portuguese; several
phrasings per purpose, one chosen per client and day); a clinic's templates win.

Clinic templates are Jinja2 run in a sandbox (no attribute tricks, no imports), with
autoescaping for HTML, so neither a template nor a value in it can do harm. The
activity's title reaches a template only when the clinic allows activity details;
subjects and push titles never carry it (they show on lock screens and in inboxes).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from shared.contracts import Messaging, ReminderPurpose
from shared.logging import get_logger
from shared.messages import catalogue
from shared.messages.catalogue import FALLBACK
from shared.messages.phrasing import LanguageTexts, Phrasing
from shared.messages.sms_text import OPT_OUT_TEXT

log = get_logger("shared.messages.templates")

PARTS = ("sms", "subject", "text", "html", "push_title", "push_body")
# Every default SMS with its link fits one GSM-7 segment (160) for a clinic name of up
# to 30 characters and a tracker base URL of up to 40: "<name>: " + lead + prompt + link
# leaves about 50 characters for the lead (tests/unit/test_messages_catalogue.py holds
# every phrasing of every language to that).
_DETAIL = "{% if activity %} ({{ activity }}){% endif %}"


def _defaults(texts: LanguageTexts, phrasing: Phrasing, data: RenderInput) -> dict[str, str]:
    """The built-in Jinja sources of every part, in one language and phrasing."""
    linked = data.purpose is not ReminderPurpose.ENCOURAGEMENT
    lead = phrasing.lead.replace("{{ detail }}", _DETAIL)
    # A digest's link opens a list of its activities, not a done button: it says so.
    prompt = texts.see_prompt if data.count > 1 else texts.done_prompt
    link = f"{{% if done_link %}} {prompt} {{{{ done_link }}}}{{% endif %}}"
    label = texts.see_them if data.count > 1 else texts.mark_done
    html_link = f'{{% if done_link %}}<p><a href="{{{{ done_link }}}}">{label}</a></p>{{% endif %}}'
    return {
        "sms": "{{ clinic_name }}: " + lead + (link if linked else ""),
        "subject": "{{ clinic_name }}: " + phrasing.subject,
        "text": f"{texts.greeting}\n\n{{{{ clinic_name }}}}: {lead}{link if linked else ''}"
        "\n\n{{ footer }}\n",
        "html": f"<p>{texts.greeting}</p><p>{{{{ clinic_name }}}}: {lead}</p>"
        + (html_link if linked else "")
        + "<p><small>{{ footer }}</small></p>",
        "push_title": "{{ clinic_name }}",
        "push_body": _capitalised(lead),
    }


def _capitalised(source: str) -> str:
    """The first letter in upper case ("¡bien" -> "¡Bien"); Jinja tags are left alone."""
    for i, char in enumerate(source):
        if char == "{":
            return source
        if char.isalpha():
            return source[:i] + char.upper() + source[i + 1 :]
    return source


@dataclass(frozen=True)
class Rendered:
    sms: str
    subject: str
    text: str
    html: str
    push_title: str
    push_body: str
    opt_out: str = OPT_OUT_TEXT  # the first SMS's opt-out line, in the message's language


@dataclass(frozen=True)
class RenderInput:
    purpose: ReminderPurpose
    clinic_name: str
    activity_title: str
    allow_activity_details: bool
    done_link: str | None
    footer: str | None = None  # None: the language's own ("You can stop ... at any time.")
    count: int = 1  # reminders in this message; more than 1 is a digest
    # Which phrasing: the client ("<clinic_id>/<client_ref>") and the day it is for; the
    # same pair renders the same text (a redelivery), the next day the next phrasing.
    # No key: the first phrasing.
    variant_key: str = ""
    variant_day: date | None = None


class _Silent(Undefined):
    """An unknown variable renders as nothing rather than failing the send."""

    def __str__(self) -> str:
        return ""


@lru_cache(maxsize=2)
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=html, undefined=_Silent)


@lru_cache(maxsize=4096)  # the built-in texts alone are some 500 sources
def _compile(source: str, html: bool) -> Any:
    return _environment(html).from_string(source)


def pick_language(client: str | None, messaging: Messaging | None) -> str:
    """The language asked for: the client's ("es-MX"), else the clinic's default. A
    clinic template for it wins; the built-in texts fall back (see ``text_language``)."""
    return client or (messaging.default_language if messaging else FALLBACK)


def _override(
    messaging: Messaging | None, language: str, built_in: str, purpose: str, part: str
) -> str | None:
    """The clinic's template for the part: in the client's language; in the clinic's
    default language only when we have no built-in texts in the client's either (a
    Spanish client reads our Spanish rather than the clinic's English)."""
    if messaging is None:
        return None
    base = language.split("-", maxsplit=1)[0]
    fallback = () if base.lower() == built_in else (messaging.default_language,)
    for lang in dict.fromkeys((language, base, *fallback)):
        table = messaging.templates.get(lang) or {}
        source = table.get(f"{purpose}.{part}") or table.get(part)
        if source:
            return source
    return None


def render(
    data: RenderInput, messaging: Messaging | None, language: str, parts: Collection[str] = PARTS
) -> Rendered:
    """The message's ``parts`` (every one unless told; the others are left empty: a
    send renders only what its channels carry, each part a template run): the clinic's
    template for the language where it has one, else the built-in text in the client's
    language, the clinic's, or English."""
    built_in = catalogue.text_language(language, messaging.default_language if messaging else None)
    texts = catalogue.texts(built_in)
    choices = catalogue.phrasings(texts, data.purpose, data.count)
    kind = "digest" if data.count > 1 else data.purpose.value
    phrasing = choices[catalogue.variant(data.variant_key, kind, data.variant_day, len(choices))]
    variables = {
        "clinic_name": data.clinic_name,
        "activity": data.activity_title if data.allow_activity_details else None,
        "done_link": data.done_link,
        "purpose": data.purpose.value,
        "footer": texts.footer if data.footer is None else data.footer,
        "count": data.count,
    }
    defaults = _defaults(texts, phrasing, data)
    out = dict.fromkeys(PARTS, "")
    for part in PARTS:
        if part not in parts:
            continue
        html = part == "html"
        source = _override(messaging, language, built_in, data.purpose.value, part)
        text = _render_one(source, variables, html) if source else None
        out[part] = text if text is not None else _compile(defaults[part], html).render(variables)
    # Lock screens and subjects never name the activity, whatever a template says.
    if data.activity_title and data.activity_title in out["subject"] + out["push_title"]:
        if "subject" in parts:
            out["subject"] = _compile(defaults["subject"], False).render(variables)
        if "push_title" in parts:
            out["push_title"] = data.clinic_name
    return Rendered(**{k: v.strip() for k, v in out.items()}, opt_out=texts.opt_out)


def _render_one(source: str, variables: dict[str, Any], html: bool) -> str | None:
    try:
        return str(_compile(source, html).render(variables))
    except TemplateError as exc:  # includes sandbox SecurityError: fall back to the default
        log.warning("clinic template failed; using the default", error=type(exc).__name__)
        return None
