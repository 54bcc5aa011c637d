from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.contracts.fields import Ref, TimeZoneName
from shared.settings import DEV_LINK_SECRET, SecretList, ServiceSettings


class FhirClinicDefaults(BaseModel):
    """What a clinic's FHIR Tasks may leave out: the reminder policy and the time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: Ref | None = None
    timezone: TimeZoneName | None = None


class TrackerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore", frozen=True)

    secret_fields: ClassVar[tuple[str, ...]] = ("link_secrets", "ops_token", "clinic_tokens")

    http_port: int = 8003
    link_secrets: SecretList = Field(
        default=(SecretStr(DEV_LINK_SECRET),),
        description="Comma-separated, newest first; checks done-link codes. Equal to "
        "NOTIFIER_LINK_SECRETS.",
    )
    link_grace_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long a done link's record outlives the link, so a late tap is told "
        "it expired rather than that it does not work.",
    )
    ops_token: SecretStr = SecretStr("dev-only-ops-token")
    clinic_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object: dashboard token -> clinic_id; such a token sees only its clinic.",
    )
    delivery_retention_days: int = Field(
        default=35, ge=1, le=400, description="Clients' timelines and once-only claims."
    )
    delivery_detail_retention_days: int = Field(
        default=14,
        ge=4,
        le=400,
        description="A reminder's own record (each channel's state, outcome, claims); "
        "older reminders are told by their timeline entries. Provider callbacks come "
        "within days (Twilio: at most 72 hours).",
    )
    hourly_counter_retention_days: int = Field(default=35, ge=1, le=400)
    daily_counter_retention_days: int = Field(default=400, ge=1, le=3650)
    assignment_retention_days: int = Field(
        default=400, ge=30, le=3650, description="Assignments and completions, after last write."
    )
    stream_max_len: int = Field(
        default=500, ge=10, le=100_000, description="Recent failures/opt-outs kept per clinic."
    )
    timeline_max_len: int = Field(
        default=1000,
        ge=50,
        le=100_000,
        description="Entries kept on a client's timeline (the console); none older than "
        "the delivery retention.",
    )
    backlog_ttl_seconds: int = Field(default=60, ge=5, le=3600)
    escalation_interval_seconds: float = Field(
        default=300.0, ge=0.5, le=86_400, description="How often missed runs are checked."
    )
    summary_default_days: int = Field(default=7, ge=1, le=90)

    # FHIR R4 adapter (tracker/fhir/, docs/fhir.md).
    fhir_clinics: dict[str, FhirClinicDefaults] = Field(
        default_factory=dict,
        description="JSON object: clinic_id -> {policy_id, timezone}, used for a FHIR Task "
        "that carries neither extension.",
    )
    fhir_base_url: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="The EHR's FHIR R4 base URL; set, each reminder.delivered is posted as a "
        "Communication and each adherence.summary as an Observation. Empty: off.",
    )
    fhir_bearer_token: SecretStr = Field(
        default=SecretStr(""), description="Sent as 'Authorization: Bearer' to the FHIR base URL."
    )
    fhir_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
