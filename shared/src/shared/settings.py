"""Settings every service reads. Each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings; a service's class sets ``env_prefix`` (e.g. ``SCHEDULER_``)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field(
        default="",
        pattern=r"^[a-z0-9._-]*$",
        description="Prefix for every exchange, queue and Redis key (tests use a unique one).",
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    retry_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Delayed re-deliveries before dead-lettering."
    )
    prefetch: int = Field(default=64, ge=1, le=10_000)
    topology_check_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "How often the service declares its topology again, so exchanges, retry tiers "
            "and dead-letter queues lost with a RabbitMQ node's data come back without a "
            "restart (0 turns it off)."
        ),
    )

    @property
    def redis_prefix(self) -> str:
        """Root of this deployment's Redis keys."""
        return f"{self.namespace}:bs" if self.namespace else "bs"
