from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore", frozen=True)

    http_port: int = 8001
    shard_count: int = Field(
        default=16, ge=1, le=1024, description="Timer shards (one hash slot each)."
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="A claimed timer re-fires elsewhere after this."
    )
    horizon_days: int = Field(default=7, ge=1, le=60, description="How far ahead to plan.")
    roll_after_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="Re-plan a client this often (rolls the horizon).",
    )
    roll_check_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="How often a replica looks for clients to roll."
    )
    max_sleep_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Longest sleep of the firing loop."
    )
    fire_ahead_ms: int = Field(
        default=300,
        ge=0,
        le=2000,
        description=(
            "Hand a reminder to the notifier this long before its time: it loads and"
            " decides meanwhile, and sends at the time, never before (many due at once)."
        ),
    )
    claim_batch: int = Field(default=500, ge=1, le=10_000, description="Timers per claim call.")
    fire_parallel_shards: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Shards fired at once; up to this times claim_batch timers are leased at once.",
    )
    publish_concurrency: int = Field(
        default=256, ge=1, le=10_000, description="Reminders awaiting a confirm at once."
    )
    plan_announce_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Re-planned clients are announced to the tracker in batches this often.",
    )
    backlog_interval_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="Period of scheduler.backlog.reported."
    )
    replica: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._:\-]{0,64}$",
        description="Name in backlog reports; host and pid if unset.",
    )

    @model_validator(mode="after")
    def _ahead_within_the_lease(self) -> SchedulerSettings:
        # A claim's lease must outlast the fire-ahead: a lease that could end before its
        # timer's time would be re-claimed, and CLAIM tells a lease from a timer by its
        # score, which must never be the timer's own time.
        if self.fire_ahead_ms >= self.lease_seconds * 1000:
            raise ValueError(
                f"SCHEDULER_FIRE_AHEAD_MS ({self.fire_ahead_ms}) must be shorter than "
                f"SCHEDULER_LEASE_SECONDS ({self.lease_seconds:g} s)"
            )
        return self
