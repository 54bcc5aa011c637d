"""Clinic reminder policy: what clinics configure, as it travels in events."""

from __future__ import annotations

from datetime import time
from typing import Literal, Self

from pydantic import Field, model_validator

from shared.contracts.base import Model
from shared.contracts.fields import Email, Language, LocalTime, Note, PhoneE164, Ref, ShortText
from shared.contracts.vocabulary import ActivityKind, Channel


class QuietHours(Model):
    """A local-time window in which nothing is sent. ``start`` > ``end`` spans midnight."""

    start: LocalTime = time(21, 0)
    end: LocalTime = time(8, 0)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet_hours.start and quiet_hours.end must differ")
        return self


class LeadTime(Model):
    """Remind ``days_before`` the due date at local time ``at``."""

    days_before: int = Field(ge=0, le=30)
    at: LocalTime


class Nudge(Model):
    """If the day's occurrence is not done by ``if_not_done_by`` (local), nudge once."""

    if_not_done_by: LocalTime


class ReminderRule(Model):
    times_of_day: tuple[LocalTime, ...] = Field(default=(time(9, 0),), max_length=8)
    lead_times: tuple[LeadTime, ...] = Field(default=(), max_length=4)
    nudges: tuple[Nudge, ...] = Field(default=(), max_length=4)
    spread_minutes: int = Field(
        default=30, ge=0, le=180, description="Send within this many minutes after the time."
    )


class RuleOverride(Model):
    """Per-assignment overrides: any field left out keeps the policy's value."""

    times_of_day: tuple[LocalTime, ...] | None = Field(default=None, max_length=8)
    lead_times: tuple[LeadTime, ...] | None = Field(default=None, max_length=4)
    nudges: tuple[Nudge, ...] | None = Field(default=None, max_length=4)
    spread_minutes: int | None = Field(default=None, ge=0, le=180)
    channels: tuple[Channel, ...] | None = Field(default=None, min_length=1, max_length=3)
    quiet_hours: QuietHours | None = None


class Caps(Model):
    """At most this many messages per client, across all their activities."""

    per_day: int = Field(default=3, ge=1, le=24)
    per_week: int = Field(default=12, ge=1, le=100)

    @model_validator(mode="after")
    def _week_covers_day(self) -> Self:
        if self.per_week < self.per_day:
            raise ValueError("caps.per_week must be at least caps.per_day")
        return self


class Escalation(Model):
    """After this many consecutive missed occurrences, alert the clinician once."""

    after_missed: int | None = Field(default=3, ge=1, le=60)


class EndConditions(Model):
    max_occurrences: int | None = Field(default=None, ge=1, le=3650)
    stop_after_days: int | None = Field(default=None, ge=1, le=3650)


SmsProviderName = Literal["twilio", "vonage"]


class Senders(Model):
    """Who a clinic's messages come from, and through which SMS providers in which order.
    Every field left out keeps the notifier's own setting (one number for every clinic)."""

    sms_providers: tuple[SmsProviderName, ...] = Field(
        default=(),
        max_length=4,
        description="SMS providers in the order to try them: the next is used at once while "
        "one is down (circuit open, 5xx, 429, unreachable). Empty: the notifier's order. "
        "Names the notifier has not configured are skipped.",
    )
    sms_from: PhoneE164 | None = Field(
        default=None, description="The clinic's own SMS number (E.164), with every provider."
    )
    sms_messaging_service_sid: str | None = Field(
        default=None,
        pattern=r"^MG[0-9a-fA-F]{32}$",
        description="Twilio only: send through this Messaging Service instead of a number.",
    )
    email_from: Email | None = Field(default=None, description="The From address of emails.")
    email_reply_to: Email | None = Field(default=None, description="Their Reply-To address.")

    @model_validator(mode="after")
    def _providers_unique(self) -> Self:
        if len(set(self.sms_providers)) != len(self.sms_providers):
            raise ValueError("senders.sms_providers must name each provider at most once")
        return self


class Messaging(Model):
    clinic_name: ShortText
    default_language: Language = "en"
    allow_activity_details: bool = Field(
        default=False,
        description="Only when true may a message name the activity (minimum necessary PHI).",
    )
    help_text: Note | None = None
    encouragement: bool = False
    digest: bool = Field(
        default=True,
        description="Reminders of one client due at the same time go as one message naming "
        "the count, with one link to a page listing them; false sends one message each.",
    )
    templates: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Optional template overrides: language -> template name -> Jinja2 source.",
    )
    senders: Senders = Senders()


class ClinicPolicy(Model):
    policy_id: Ref
    version: int = Field(ge=1)
    channels: tuple[Channel, ...] = Field(default=(Channel.SMS, Channel.EMAIL, Channel.PUSH))
    quiet_hours: QuietHours = QuietHours()
    caps: Caps = Caps()
    default_rule: ReminderRule = ReminderRule()
    rules_by_kind: dict[ActivityKind, ReminderRule] = Field(default_factory=dict)
    escalation: Escalation = Escalation()
    end: EndConditions = EndConditions()
    messaging: Messaging

    @model_validator(mode="after")
    def _channels_unique(self) -> Self:
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must list each channel at most once, and at least one")
        return self

    def rule_for(self, kind: ActivityKind) -> ReminderRule:
        return self.rules_by_kind.get(kind, self.default_rule)


class ParsedPolicies:
    """A stored policy parsed once per distinct stored bytes: every assignment event (the
    scheduler) and every send (the notifier) reads its policy, and parsing it each time
    was ~8 % of the scheduler's ingest CPU. Policies are frozen, so one parsed copy serves
    every reader until the bytes change. Bounded: clinics choose policy ids."""

    def __init__(self, max_size: int = 1000) -> None:
        self.max_size = max_size
        self._parsed: dict[bytes, ClinicPolicy] = {}

    def parse(self, raw: bytes) -> ClinicPolicy:
        if (cached := self._parsed.get(raw)) is not None:
            return cached
        if len(self._parsed) >= self.max_size:
            self._parsed.clear()
        policy = self._parsed[raw] = ClinicPolicy.model_validate_json(raw)
        return policy
