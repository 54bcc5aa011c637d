"""The notifier's settings (env prefix ``NOTIFIER_``). Every provider defaults to the
console provider, so the local demo sends nothing anywhere and still shows each step."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import DEV_LINK_SECRET, SecretList, ServiceSettings

SmsProvider = Literal["twilio", "vonage"]


def _names(value: object) -> object:
    """``vonage`` or ``twilio,vonage``: blank entries dropped."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


SmsProviders = Annotated[tuple[SmsProvider, ...], NoDecode, BeforeValidator(_names)]


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    secret_fields: ClassVar[tuple[str, ...]] = (
        "link_secrets",
        "twilio_auth_token",
        "vonage_api_secret",
        "vonage_signature_secret",
        "vapid_private_key",
    )

    http_port: int = 8002
    link_secrets: SecretList = Field(
        default=(SecretStr(DEV_LINK_SECRET),),
        description="Comma-separated, newest first: the newest makes done-link codes and "
        "unsubscribe tokens, all verify (rotation). Equal to TRACKER_LINK_SECRETS.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8003", description="Tracker's public base (done links)."
    )
    webhook_base_url: str = Field(
        default="http://127.0.0.1:8002",
        description="This service's public base URL, as Twilio calls it (signatures cover it).",
    )
    done_link_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)

    sms_provider: Literal["console", "twilio", "vonage"] = "console"
    sms_failover_providers: SmsProviders = Field(
        default=(),
        description="Comma-separated SMS providers tried, in order, at once while the ones "
        "before are down (a clinic's senders.sms_providers may reorder them all).",
    )
    email_provider: Literal["console", "smtp"] = "console"
    push_provider: Literal["console", "webpush"] = "console"
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    provider_connect_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="A provider that takes no connection within this is down: fail over.",
    )

    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = "ACdev"
    twilio_auth_token: SecretStr = SecretStr("dev-only-twilio-token")
    twilio_from_number: str = "+15005550006"

    vonage_base_url: str = "https://api.nexmo.com"
    vonage_api_key: str = "dev-key"
    vonage_api_secret: SecretStr = SecretStr("dev-only-vonage-secret")
    vonage_signature_secret: SecretStr = SecretStr("dev-only-vonage-signature-secret")
    vonage_from_number: str = "+15005550007"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    email_from: str = "reminders@between-sessions.invalid"

    vapid_private_key: SecretStr = SecretStr("")
    vapid_subject: str = "mailto:ops@between-sessions.invalid"

    sms_rate_per_second: float = Field(default=1.0, gt=0, le=10_000)
    email_rate_per_second: float = Field(default=20.0, gt=0, le=10_000)
    push_rate_per_second: float = Field(default=100.0, gt=0, le=10_000)
    rate_wait_max_seconds: float = Field(
        default=2.0, ge=0, le=30, description="Wait this long for a token, else retry later."
    )

    circuit_failure_threshold: int = Field(default=5, ge=1, le=1000)
    circuit_window_seconds: int = Field(default=30, ge=1, le=3600)
    circuit_open_seconds: int = Field(default=30, ge=1, le=3600)

    send_lease_seconds: int = Field(
        default=60, ge=5, le=3600, description="A crash mid-send is retried after this."
    )
    dedupe_ttl_seconds: int = Field(default=14 * 86400, ge=3600)
    quiet_defer_max_seconds: int = Field(
        default=600, ge=0, le=3600, description="Quiet hours ending sooner: defer; else drop."
    )

    def secrets_in_use(self) -> dict[str, list[str]]:
        """Provider credentials count only when that provider is configured."""
        found = super().secrets_in_use()
        sms = {self.sms_provider, *self.sms_failover_providers}
        if "twilio" not in sms:
            found.pop("twilio_auth_token", None)
        if "vonage" not in sms:
            found.pop("vonage_api_secret", None)
            found.pop("vonage_signature_secret", None)
        if self.push_provider != "webpush":
            found.pop("vapid_private_key", None)
        return found

    # -- delivery truth: email events (see email_events.py and dsn.py) ------------------
    sendgrid_webhook_public_key: str = Field(
        default="",
        description="SendGrid's Event Webhook verification key (base64 DER, as its "
        "settings page shows it); empty: the SendGrid event webhook refuses every request.",
    )
    sendgrid_webhook_max_age_seconds: int = Field(
        default=300, ge=10, le=86400, description="Older signed timestamps are refused."
    )
    dsn_webhook_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token of the RFC 3464 bounce endpoint (32+ characters; shorter "
        "or empty: the endpoint refuses every request).",
    )
