"""Outside dev mode a service refuses to start on a default or short secret, naming it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.settings import NotifierSettings
from scheduler.settings import SchedulerSettings
from tracker.settings import TrackerSettings

STRONG = "Zq3vJ8c1yXo0Lr7uQe2kWm9sTb4nHf6a-production"
OLD = "Pk2mVb8nQx4Lz7rTy1uWc5oEa9sDf3gH-retired"


@pytest.fixture(autouse=True)
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BS_DEV_MODE", raising=False)


def test_defaults_are_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="NOTIFIER_LINK_SECRETS"):
        NotifierSettings()
    with pytest.raises(ValidationError, match="TRACKER_LINK_SECRETS"):
        TrackerSettings()


def test_short_secret_and_default_token_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_LINK_SECRETS", "short")
    with pytest.raises(ValidationError, match="TRACKER_LINK_SECRETS"):
        TrackerSettings()
    monkeypatch.setenv("TRACKER_LINK_SECRETS", STRONG)
    with pytest.raises(ValidationError, match="TRACKER_OPS_TOKEN"):
        TrackerSettings()
    monkeypatch.setenv("TRACKER_OPS_TOKEN", STRONG)
    monkeypatch.setenv("TRACKER_CLINIC_TOKENS", '{"tok": "clinic-a"}')
    with pytest.raises(ValidationError, match="TRACKER_CLINIC_TOKENS"):
        TrackerSettings()
    monkeypatch.setenv("TRACKER_CLINIC_TOKENS", f'{{"{STRONG}": "clinic-a"}}')
    assert TrackerSettings().ops_token.get_secret_value() == STRONG


def test_provider_secrets_count_only_when_that_provider_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFIER_LINK_SECRETS", f"{STRONG}, {OLD}")
    settings = NotifierSettings()
    assert [s.get_secret_value() for s in settings.link_secrets] == [STRONG, OLD]
    monkeypatch.setenv("NOTIFIER_SMS_PROVIDER", "twilio")
    with pytest.raises(ValidationError, match="NOTIFIER_TWILIO_AUTH_TOKEN"):
        NotifierSettings()


def test_dev_mode_allows_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BS_DEV_MODE", "true")
    assert NotifierSettings().dev_mode
    assert TrackerSettings().link_secrets
    assert SchedulerSettings().dev_mode
