"""Settings every service reads. Each service subclasses with its own env prefix.

Secrets: a service lists the names of its secret fields in ``secret_fields``. Outside
dev mode (``BS_DEV_MODE=true``, which the demo and the tests set) it refuses to start
with a built-in development default or a secret shorter than ``MIN_SECRET_LENGTH``,
naming the variable, so a deployment can never run on a value printed in this repo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.tenancy import normalise_tenants, parse_tenants

DEV_PREFIX = "dev-only-"
MIN_SECRET_LENGTH = 32
DEV_LINK_SECRET = "dev-only-link-secret-change-me"  # noqa: S105 (refused outside dev mode)


def _split_secrets(value: object) -> object:
    """``a,b`` or a list: newest first. Blank entries are dropped."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


SecretList = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_secrets)]
"""Secrets, newest first, from a comma-separated variable: the newest signs, all verify."""


def secret_values(secrets: Sequence[SecretStr]) -> tuple[str, ...]:
    return tuple(s.get_secret_value() for s in secrets)


class ServiceSettings(BaseSettings):
    """Common settings; a service's class sets ``env_prefix`` (e.g. ``SCHEDULER_``)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)
    # Names of this service's secret fields (SecretStr, SecretList, or dict of tokens).
    secret_fields: ClassVar[tuple[str, ...]] = ()

    dev_mode: bool = Field(
        default=False,
        validation_alias=AliasChoices("BS_DEV_MODE", "dev_mode"),
        description="BS_DEV_MODE=true allows the built-in dev-only secrets (demo and tests).",
    )
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = Field(
        default=False,
        description=(
            "*_REDIS_URL names a node of a Redis Cluster: the service's keys go through a "
            "cluster client (shared.service.connect_store)."
        ),
    )
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
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description=(
            "Larger message bodies are dead-lettered unread (as are bodies nesting JSON "
            "deeper than 32 levels)."
        ),
    )
    topology_check_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "How often the service declares its topology again, so exchanges, retry tiers "
            "and dead-letter queues lost with a RabbitMQ node's data come back without a "
            "restart (0 turns it off)."
        ),
    )

    tracing: bool = Field(
        default=False,
        description=(
            "OpenTelemetry traces across the services (message headers, HTTP requests and "
            "the Twilio callback URL). Off: no tracing code is installed."
        ),
    )
    otlp_endpoint: str = Field(
        default="",
        description=(
            "OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. Empty with "
            "tracing on: context propagates but spans are not exported."
        ),
    )
    tenants: Annotated[dict[str, frozenset[str]], NoDecode] = Field(
        default_factory=dict,
        description=(
            "RabbitMQ user -> clinic ids it may publish inbound events for, e.g. "
            "`ehr-northside=clinic-a,clinic-b;ehr-lakeside=clinic-c;bs-console=*` ('*': any "
            "clinic). Set: an inbound event whose broker-validated user_id may not speak for "
            "its clinic_id is dead-lettered. Empty: not checked (development)."
        ),
    )

    @field_validator("tenants", mode="before")
    @classmethod
    def _parse_tenants(cls, value: object) -> object:
        variable = f"{cls.model_config.get('env_prefix', '')}tenants".upper()
        try:
            if isinstance(value, str):
                return parse_tenants(value)
            if isinstance(value, dict):
                return normalise_tenants(value)
        except ValueError as exc:
            raise ValueError(f"{variable} is malformed: {exc}") from None
        raise ValueError(f"{variable} must be a text like 'user=clinic-a,clinic-b;other=*'")

    @property
    def redis_prefix(self) -> str:
        """Root of this deployment's Redis keys."""
        return redis_prefix(self.namespace)

    def secrets_in_use(self) -> dict[str, list[str]]:
        """Each secret field's values; a subclass leaves out secrets it will not use."""
        found: dict[str, list[str]] = {}
        for name in self.secret_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found[name] = [value.get_secret_value()]
            elif isinstance(value, dict):
                if value:  # no clinic tokens at all is a valid choice
                    found[name] = [str(k) for k in value]
            else:
                found[name] = list(secret_values(value))
        return found

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Self:
        if self.dev_mode:
            return self
        prefix = str(self.model_config.get("env_prefix", ""))
        for name, values in self.secrets_in_use().items():
            variable = f"{prefix}{name}".upper()
            if not values:
                raise ValueError(f"{variable} is empty: set it (or BS_DEV_MODE=true locally)")
            for value in values:
                if value.startswith(DEV_PREFIX) or len(value) < MIN_SECRET_LENGTH:
                    raise ValueError(
                        f"{variable} holds a built-in development default or a secret shorter "
                        f"than {MIN_SECRET_LENGTH} characters; set a random one (for example "
                        "`openssl rand -base64 48`), or BS_DEV_MODE=true for local use"
                    )
        return self


def redis_prefix(namespace: str) -> str:
    """Root of a deployment's Redis keys: every service's, and the tools' that write beside
    them (the dead-letter tool's audit stream)."""
    return f"{namespace}:bs" if namespace else "bs"
