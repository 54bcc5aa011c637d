"""The one-tap done link: valid, second tap, tampered, expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.tokens import sign_done_token
from tests.support.infra import wait_for
from tests.tracker.conftest import SECRET, Tracker, today_utc

pytestmark = pytest.mark.integration


def token(**overrides: object) -> str:
    args: dict[str, object] = {
        "clinic_id": "clinic-a",
        "assignment_id": "asg-1",
        "client_ref": "client-1",
        "occurrence": today_utc(),
        "reminder_id": "rem-1",
    }
    args.update(overrides)
    return sign_done_token(SECRET, **args)  # type: ignore[arg-type]


async def test_done_link_records_once_and_refuses_bad_links(tracker: Tracker) -> None:
    good = token()
    first = await tracker.http.get(f"/done/{good}")
    assert first.status_code == 200
    assert "recorded" in first.text.lower()
    second = await tracker.http.get(f"/done/{good}")
    assert second.status_code == 200
    assert "already recorded" in second.text.lower()
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= 1)
    [recorded] = tracker.listener.of("completion.recorded")
    assert recorded["source"] == "link"

    body, _, mac = good.partition(".")
    tampered = await tracker.http.get(f"/done/{body}x.{mac}")
    assert tampered.status_code == 403
    assert "does not work" in tampered.text
    assert (await tracker.http.get("/done/garbage")).status_code == 400

    old = token(now=datetime.now(UTC) - timedelta(days=10))
    expired = await tracker.http.get(f"/done/{old}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert len(tracker.listener.of("completion.recorded")) == 1
