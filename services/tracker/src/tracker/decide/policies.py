"""The policy console's decisions (pure): validation errors in words per field, what a
new version changed, and the preview of an unsaved policy.

The preview runs the scheduler's own planner (``shared.planning``) and the notifier's own
rendering (``shared.messages``) on a sample client: what it shows is what they would do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Self
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from shared.contracts import Activity, ActivityAssigned, ClinicPolicy, QuietHours, Schedule
from shared.contracts.base import Model
from shared.contracts.fields import Language, LocalTime, RRule, ShortText, TimeZoneName
from shared.contracts.vocabulary import ActivityKind, Frequency, ReminderPurpose
from shared.messages.sms_text import MAX_SMS_SEGMENTS, measure, sms_text
from shared.messages.templates import Rendered, RenderInput, pick_language, render
from shared.planning.model import AssignmentPlanInput, ClientContext, PlannedReminder
from shared.planning.plan import plan_client

PREVIEW_DAYS = 7
SAMPLE = "preview/sample"  # the sample client's planning key (its spread is stable)
HISTORY_KEPT = 50
EHR = "EHR"  # who saved a version that came from the EHR (or the policy CLI)

# -- validation errors in words ---------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str  # a dotted path into the policy: "caps.per_day", "channels.1"
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """One entry per problem, named by the field it is about, said in words."""
    found = [_field_error(e) for e in exc.errors()]
    if prefix:
        found = [FieldError(f"{prefix}.{e.field}".rstrip("."), e.message) for e in found]
    return list(dict.fromkeys(found))


def _field_error(error: ErrorDetails) -> FieldError:
    path = ".".join(str(p) for p in error["loc"] if p != "[key]")
    if error["type"] == "value_error":
        # A rule across fields (a model validator) names the field it is about first:
        # "caps.per_week must be at least caps.per_day".
        text = str(error["msg"]).removeprefix("Value error, ")
        first, _, rest = text.partition(" ")
        if _names_field(first, path):
            path = first
            text = rest if rest.startswith("must") else text
        return FieldError(path, text)
    if error["type"] == "string_pattern_mismatch" and path.endswith("language"):
        return FieldError(path, "must be a language code such as en or pt-BR")
    return FieldError(path, _words(error))


def _names_field(word: str, under: str) -> bool:
    ident = word.replace("_", "").replace(".", "")
    return bool(ident.isalnum() and ident.isascii()) and (not under or word.startswith(under))


_IN_WORDS: dict[str, str] = {
    "missing": "is required",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "too_long": "may list at most {max_length}",
    "too_short": "must list at least {min_length}",
    "string_too_long": "must be at most {max_length} characters",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "time_parsing": "must be a time of day such as 09:00",
    "time_type": "must be a time of day such as 09:00",
    "enum": "must be one of: {expected}",
    "bool_parsing": "must be yes or no",
    "bool_type": "must be yes or no",
    "extra_forbidden": "is not a setting of a policy (misspelt?)",
    "string_pattern_mismatch": "has characters or a form that is not allowed here",
}


def _words(error: ErrorDetails) -> str:
    template = _IN_WORDS.get(error["type"])
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(error["msg"])


# -- what a version changed -------------------------------------------------------------


def changes(old: ClinicPolicy | None, new: ClinicPolicy, limit: int = 6) -> str:
    """A short line: which settings changed, from what to what."""
    if old is None:
        return "first version"
    before, after = _flat(_comparable(old)), _flat(_comparable(new))
    changed = [
        _change(path, before.get(path), after.get(path))
        for path in sorted(before.keys() | after.keys())
        if before.get(path) != after.get(path)
    ]
    if not changed:
        return "no change"
    more = len(changed) - limit
    return "; ".join(changed[:limit]) + (f"; and {more} more" if more > 0 else "")


def _comparable(policy: ClinicPolicy) -> dict[str, Any]:
    return policy.model_dump(mode="json", exclude={"version", "policy_id"})


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            out |= _flat(item, path + ".")
        elif not (isinstance(item, Mapping) and not item):  # an empty table is nothing
            out[path] = item
    return out


def _change(path: str, old: Any, new: Any) -> str:
    a, b = _shown(old), _shown(new)
    if a is None or b is None:
        return f"{path} changed" if old is not None and new is not None else _added(path, new)
    return f"{path} {a} → {b}"


def _added(path: str, new: Any) -> str:
    return f"{path} removed" if new is None else f"{path} added"


def _shown(value: Any) -> str | None:
    """A value short enough to show in the line (a template's source is not)."""
    if value is None:
        return "none"
    if isinstance(value, list):
        shown = [_shown(v) for v in value]
        if any(v is None for v in shown):
            return None
        text = ", ".join(str(v) for v in shown) or "none"
    elif isinstance(value, dict):  # a lead time or a nudge: its values, "1 18:00"
        shown = [_shown(v) for v in value.values()]
        return None if any(v is None for v in shown) else " ".join(str(v) for v in shown)
    else:
        text = str(value).lower() if isinstance(value, bool) else str(value)
    text = text.removesuffix(":00") if len(text) == 8 and text[2] == ":" else text
    return text if len(text) <= 32 else None


def history_entry(
    version: int, who: str, at: datetime, summary: str, editor: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": version, "who": who, "at": at.isoformat()}
    entry["editor"] = editor or None
    entry["summary"] = summary
    return entry


def saved_by(clinic_id: str | None) -> str:
    """Who saved, as history shows it: the operations token or a clinic's."""
    return "ops" if clinic_id is None else f"clinic {clinic_id}"


# -- preview ----------------------------------------------------------------------------


class SampleClient(Model):
    """The client a preview plans for: a schedule, where they are, when not to disturb."""

    timezone: TimeZoneName = "UTC"
    frequency: Frequency | None = None
    rrule: RRule | None = None
    times_of_day: tuple[LocalTime, ...] | None = Field(default=None, max_length=8)
    quiet_hours: QuietHours | None = None
    activity_kind: ActivityKind = ActivityKind.OTHER
    activity_title: ShortText = "Thought record"
    language: Language | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if self.rrule and self.frequency:
            raise ValueError("rrule: give either a repeat rule or a frequency, not both")
        return self

    def schedule(self, today: date) -> Schedule:
        frequency = self.frequency or (None if self.rrule else Frequency.DAILY)
        return Schedule(
            timezone=self.timezone,
            start=today,
            frequency=frequency,
            rrule=self.rrule,
            times_of_day=self.times_of_day,
        )


def sample_assignment(
    policy: ClinicPolicy, sample: SampleClient, now: datetime
) -> ActivityAssigned:
    today = now.astimezone(ZoneInfo(sample.timezone)).date()
    return ActivityAssigned(
        event_id=UUID(int=0),
        occurred_at=now,
        correlation_id="preview",
        clinic_id="preview",
        assignment_id="sample",
        client_ref="sample",
        therapist_ref="preview",
        activity=Activity(kind=sample.activity_kind, title=sample.activity_title),
        schedule=sample.schedule(today),
        policy_id=policy.policy_id,
    )


def preview(
    policy: ClinicPolicy, sample: SampleClient, now: datetime, done_link: str
) -> dict[str, Any]:
    """What the sample client would receive over the next PREVIEW_DAYS: every planned
    reminder with its local time and text, and what quiet hours moved and caps held back."""
    assignment = sample_assignment(policy, sample, now)
    client = ClientContext(SAMPLE, sample.timezone, sample.quiet_hours)
    plan = plan_client(
        client, [AssignmentPlanInput(SAMPLE, assignment, policy)], now, timedelta(PREVIEW_DAYS)
    )
    texts = _Texts(policy, sample, done_link)
    tz = ZoneInfo(sample.timezone)
    items = [_item(r, tz, texts, None) for r in plan.reminders]
    items += [_item(h.reminder, tz, texts, h.reason) for h in plan.held_back]
    items.sort(key=lambda i: (i["at"], i["held_back"] is not None))
    return {
        "timezone": sample.timezone,
        "language": texts.language,
        "channels": [c.value for c in policy.channels],
        "from": now.isoformat(),
        "to": (plan.horizon_end or now).isoformat(),
        "items": items,
        "counts": {
            "planned": len(plan.reminders),
            "moved_by_quiet_hours": sum(1 for r in plan.reminders if r.moved_from is not None),
            "held_back_by_caps": len(plan.held_back),
            "only_if_not_done": sum(1 for r in plan.reminders if r.purpose is _NUDGE),
        },
        "examples": examples(policy, done_link, sample.activity_title, texts.language),
    }


_NUDGE = ReminderPurpose.NUDGE


class _Texts:
    """Each purpose and day rendered once, as the notifier renders it: the sample client
    steps through the phrasings day by day as a real client does (the console shows the
    variety, not the first phrasing seven times)."""

    def __init__(self, policy: ClinicPolicy, sample: SampleClient, done_link: str) -> None:
        self.messaging = policy.messaging
        self.language = pick_language(sample.language, policy.messaging)
        self.title = sample.activity_title
        self.link = done_link
        self._cache: dict[tuple[ReminderPurpose, date], dict[str, Any]] = {}

    def of(self, purpose: ReminderPurpose, day: date) -> dict[str, Any]:
        if (purpose, day) not in self._cache:
            rendered = rendered_for(
                self.messaging, purpose, self.language, self.title, self.link, day=day
            )
            self._cache[purpose, day] = message_parts(rendered, self.link)
        return self._cache[purpose, day]


def rendered_for(
    messaging: Any,
    purpose: ReminderPurpose,
    language: str,
    title: str,
    link: str | None,
    *,
    day: date | None = None,
) -> Rendered:
    """The message as the notifier writes it; with a ``day``, the phrasing the sample
    client gets that day, else the first phrasing."""
    data = RenderInput(
        purpose=purpose,
        clinic_name=messaging.clinic_name,
        activity_title=title,
        allow_activity_details=messaging.allow_activity_details,
        done_link=link if purpose is not ReminderPurpose.ENCOURAGEMENT else None,
        variant_key=SAMPLE if day is not None else "",
        variant_day=day,
    )
    return render(data, messaging, language)


def message_parts(rendered: Rendered, link: str | None) -> dict[str, Any]:
    """What each channel would carry; the SMS fitted as the notifier fits it (not the
    first message to a number, which also says how to stop)."""
    sms = sms_text(rendered.sms, link=link, first_to_number=False, max_segments=MAX_SMS_SEGMENTS)
    length = measure(sms)
    return {
        "sms": sms,
        "sms_segments": length.segments,
        "sms_encoding": length.encoding,
        "sms_characters": length.units,
        "sms_shortened": sms != rendered.sms,
        "subject": rendered.subject,
        "push_title": rendered.push_title,
        "push_body": rendered.push_body,
    }


def _item(r: PlannedReminder, tz: ZoneInfo, texts: _Texts, held_back: str | None) -> dict[str, Any]:
    local = r.fire_at.astimezone(tz)
    moved = r.moved_from.astimezone(tz) if r.moved_from is not None else None
    return {
        "at": r.fire_at.isoformat(),
        "local_date": local.date().isoformat(),
        "local_time": local.strftime("%H:%M"),
        "weekday": local.strftime("%a"),
        "occurrence": r.occurrence.isoformat(),
        "purpose": r.purpose.value,
        "only_if_not_done": r.purpose is _NUDGE,
        "moved_from_local": moved.strftime("%a %H:%M") if moved else None,
        "held_back": held_back,
        **texts.of(r.purpose, r.occurrence),
    }


# -- template examples ------------------------------------------------------------------

_EXAMPLE_PURPOSES = (ReminderPurpose.REMINDER, ReminderPurpose.NUDGE, ReminderPurpose.LEAD)


def examples(
    policy: ClinicPolicy, done_link: str, title: str, sample_language: str | None = None
) -> list[dict[str, Any]]:
    """Per language the clinic writes templates in (and its default, and the sample
    client's), each purpose's message as rendered; a template that does not parse is
    named (the default is sent)."""
    messaging = policy.messaging
    asked = (sample_language,) if sample_language else ()
    languages = dict.fromkeys((messaging.default_language, *messaging.templates, *asked))
    out: list[dict[str, Any]] = []
    for language in languages:
        for purpose in _EXAMPLE_PURPOSES:
            rendered = rendered_for(messaging, purpose, language, title, done_link)
            parts = message_parts(rendered, done_link)
            out.append({"language": language, "purpose": purpose.value, **parts})
    return out


def template_problems(templates: Mapping[str, Mapping[str, str]]) -> list[FieldError]:
    """Templates that do not parse: the notifier would send its default text instead."""
    return list(_template_problems(templates))


def _template_problems(templates: Mapping[str, Mapping[str, str]]) -> Iterator[FieldError]:
    environment = SandboxedEnvironment()
    for language, table in templates.items():
        for name, source in table.items():
            try:
                environment.parse(source)
            except TemplateSyntaxError as exc:
                field = f"messaging.templates.{language}.{name}"
                yield FieldError(field, f"does not parse ({exc.message}); the default is sent")
