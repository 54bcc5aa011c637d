"""The scheduler refuses a fire-ahead as long as its lease (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduler.settings import SchedulerSettings


def test_the_fire_ahead_must_be_shorter_than_the_lease() -> None:
    assert SchedulerSettings(lease_seconds=3, fire_ahead_ms=2000).fire_ahead_ms == 2000
    assert SchedulerSettings(fire_ahead_ms=0).fire_ahead_ms == 0
    with pytest.raises(ValidationError, match=r"SCHEDULER_FIRE_AHEAD_MS .* SCHEDULER_LEASE"):
        SchedulerSettings(lease_seconds=1, fire_ahead_ms=1000)
