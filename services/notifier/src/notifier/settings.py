from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = 8002
    link_secret: SecretStr = SecretStr("dev-only-link-secret-change-me")
    public_base_url: str = "http://127.0.0.1:8003"
