"""A reminder handed over before its time (SCHEDULER_FIRE_AHEAD_MS) is loaded and decided
at once, as of its time, and reaches the provider at its time, never earlier."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifier.dispatch import MAX_AHEAD, _at
from notifier.providers.base import OutboundMessage, SendResult
from tests.notifier.conftest import Rig, reminder


def test_the_decision_time_is_the_planned_one_only_when_it_is_just_ahead() -> None:
    now = datetime(2026, 12, 4, 8, 59, 59, 700_000, tzinfo=UTC)
    at = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # 09:00:00
    assert _at(reminder("cl-a", planned_for=at), now) == at
    assert _at(reminder("cl-a", planned_for=now - timedelta(seconds=5)), now) == now  # late
    far = now + MAX_AHEAD + timedelta(milliseconds=1)  # a clock far off: as if due now
    assert _at(reminder("cl-a", planned_for=far), now) == now


@pytest.mark.integration
async def test_a_reminder_handed_over_early_is_sent_at_its_time(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.prefs()
    called: list[datetime] = []
    send = rig.sms.send

    async def timed(message: OutboundMessage) -> SendResult:
        called.append(datetime.now(UTC))
        return await send(message)

    monkeypatch.setattr(rig.sms, "send", timed)
    planned = datetime.now(UTC) + timedelta(milliseconds=600)
    event = reminder("cl-d", planned_for=planned, reminder_id=str(uuid.uuid4()))
    await rig.runtime.dispatcher.handle(event)
    [at] = called
    assert planned <= at < planned + timedelta(milliseconds=300), (planned, at)
    assert len(rig.sms.sent) == 1
