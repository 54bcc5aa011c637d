from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TrackerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore", frozen=True)

    http_port: int = 8003
    link_secret: SecretStr = SecretStr("dev-only-link-secret-change-me")
    ops_token: SecretStr = SecretStr("dev-only-ops-token")
