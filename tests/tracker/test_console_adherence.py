"""The adherence console's API against the real RabbitMQ and Redis: a clinic's clients
with this week's counts (escalated first) and a client's calendar; one clinic only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.contracts import ActivityCompleted, new_envelope
from tests.support.infra import wait_for
from tests.tracker.conftest import Tracker, assigned, policy_changed, settled, today_utc

pytestmark = pytest.mark.integration
A = {"Authorization": "Bearer token-clinic-a"}
B = {"Authorization": "Bearer token-clinic-b"}
DAYS = 9


def completed(
    assignment: str, client: str, day: date, clinic: str = "clinic-a"
) -> ActivityCompleted:
    return ActivityCompleted(
        **new_envelope(),
        clinic_id=clinic,
        assignment_id=assignment,
        client_ref=client,
        occurrence_date=day,
        completed_at=datetime.now(UTC),
    )


async def fed(tracker: Tracker) -> None:
    """client-done did every day; client-missed nothing (its clinician was alerted);
    clinic-b has a client of its own."""
    await tracker.publish(policy_changed("clinic-a", after_missed=3))
    await tracker.publish(assigned("asg-done", client="client-done", days_ago=DAYS))
    await tracker.publish(assigned("asg-missed", client="client-missed", days_ago=DAYS))
    await tracker.publish(assigned("asg-b", clinic="clinic-b", client="client-b", days_ago=DAYS))
    for days_ago in range(1, DAYS + 1):
        await tracker.publish(
            completed("asg-done", "client-done", today_utc() - timedelta(days_ago))
        )
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= DAYS)
    await settled(tracker)


async def test_clients_of_the_week_escalated_first(tracker: Tracker) -> None:
    await fed(tracker)
    response = await tracker.http.get("/api/console/adherence?clinic=clinic-a", headers=A)
    assert response.status_code == 200, response.text
    body = response.json()
    monday = today_utc() - timedelta(days=today_utc().weekday())
    assert body["week_start"] == monday.isoformat()
    missed, done = body["clients"]
    assert (missed["client_ref"], missed["escalated"]) == ("client-missed", True)
    assert missed["consecutive_missed"] == DAYS
    assert missed["activities"][0]["current_streak"] == 0
    due_so_far = today_utc().weekday()  # Monday up to yesterday; today is still open
    assert (missed["due"], missed["done"]) == (due_so_far, 0)
    assert (done["client_ref"], done["escalated"]) == ("client-done", False)
    assert (done["due"], done["done"]) == (due_so_far, due_so_far)
    assert done["rate"] == (1.0 if due_so_far else None)
    assert done["current_streak"] == DAYS
    assert "client-b" not in response.text

    last_week = (monday - timedelta(days=3)).isoformat()
    earlier = (
        await tracker.http.get(
            f"/api/console/adherence?clinic=clinic-a&week={last_week}", headers=A
        )
    ).json()
    assert earlier["week_start"] == (monday - timedelta(days=7)).isoformat()
    by_client = {c["client_ref"]: c for c in earlier["clients"]}
    assert by_client["client-done"]["rate"] == 1.0
    assert by_client["client-missed"]["rate"] == 0.0


async def test_a_clients_calendar(tracker: Tracker) -> None:
    await fed(tracker)
    url = "/api/console/adherence/client-missed?clinic=clinic-a&weeks=2"
    response = await tracker.http.get(url, headers=A)
    assert response.status_code == 200, response.text
    [activity] = response.json()["activities"]
    days = {d["date"]: d["state"] for d in activity["days"]}
    assert len(days) == 14
    today = today_utc()
    assert days[(today - timedelta(days=1)).isoformat()] == "missed"
    assert days[today.isoformat()] == "upcoming"
    start = today - timedelta(days=DAYS)
    for day, state in days.items():
        if date.fromisoformat(day) < start:
            assert state == "not_due"
    done = (await tracker.http.get(url.replace("client-missed", "client-done"), headers=A)).json()
    assert done["activities"][0]["counts"]["missed"] == 0
    unknown = await tracker.http.get(url.replace("client-missed", "client-b"), headers=A)
    assert unknown.status_code == 404  # clinic-b's client is not clinic-a's to see


@pytest.mark.parametrize(
    "path",
    [
        "/api/console/adherence?clinic=clinic-a",
        "/api/console/adherence/client-missed?clinic=clinic-a",
    ],
)
async def test_another_clinics_adherence_is_refused(tracker: Tracker, path: str) -> None:
    await fed(tracker)
    response = await tracker.http.get(path, headers=B)
    assert response.status_code == 403
    own = await tracker.http.get("/api/console/adherence", headers=B)
    assert [c["client_ref"] for c in own.json()["clients"]] == ["client-b"]
