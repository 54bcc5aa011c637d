"""The notifier's settings (env prefix ``NOTIFIER_``). Every provider defaults to the
console provider, so the local demo sends nothing anywhere and still shows each step."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_LINK_SECRET, SecretList, ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    secret_fields: ClassVar[tuple[str, ...]] = (
        "link_secrets",
        "twilio_auth_token",
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

    sms_provider: Literal["console", "twilio"] = "console"
    email_provider: Literal["console", "smtp"] = "console"
    push_provider: Literal["console", "webpush"] = "console"
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = "ACdev"
    twilio_auth_token: SecretStr = SecretStr("dev-only-twilio-token")
    twilio_from_number: str = "+15005550006"

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
        if self.sms_provider != "twilio":
            found.pop("twilio_auth_token", None)
        if self.push_provider != "webpush":
            found.pop("vapid_private_key", None)
        return found
