"""compose.yaml stays in step with the services and their settings classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from notifier.settings import NotifierSettings
from scheduler.settings import SchedulerSettings
from tracker.settings import TrackerSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "scheduler": SchedulerSettings,
    "notifier": NotifierSettings,
    "tracker": TrackerSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = {f"{prefix}{name}".upper() for name in settings.model_fields}
    return names | {"BS_DEV_MODE"}  # read by every service without its prefix


def test_compose_runs_the_broker_the_store_and_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"rabbitmq", "redis", *SETTINGS} <= set(services)
    assert "management" in services["rabbitmq"]["image"]
    assert "--appendonly" in services["redis"]["command"]
    assert "yes" in services["redis"]["command"]
    for name in (*SETTINGS, "rabbitmq", "redis"):
        assert "healthcheck" in services[name], name


@pytest.mark.parametrize("name", list(SETTINGS))
def test_service_environment_matches_its_settings_class(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    environment = set(service["environment"])
    known = env_names(SETTINGS[name])
    assert environment <= known, f"unknown variables: {environment - known}"
    prefix = str(SETTINGS[name].model_config["env_prefix"])
    for required in ("AMQP_URL", "REDIS_URL", "HTTP_HOST", "HTTP_PORT"):
        assert f"{prefix}{required}" in environment
    assert service["command"] == ["python", "-m", name]
    assert "rabbitmq" in service["environment"][f"{prefix}AMQP_URL"]
