"""A digest's page against the real RabbitMQ and Redis: the notifier's sends of one
message for three reminders leave three records and one page listing them, each line
with its own button that records that reminder's completion only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contracts import ClinicPolicy, ClinicPolicyChanged, Messaging, new_envelope
from shared.links import digest_code, digest_url, done_code
from tests.support.infra import wait_for
from tests.tracker.conftest import SECRET, Tracker, assigned, dispatched, settled, today_utc
from tests.tracker.test_done_link import BASE, assert_private, recorded

pytestmark = pytest.mark.integration
CLINIC_NAME = "Northside Community Psychotherapy and Counselling Centre"


async def send_digest(tracker: Tracker, clinic: str, size: int = 3) -> tuple[str, list[str]]:
    """One message for ``size`` reminders, announced per reminder as the notifier does;
    returns the digest page's path and the assignments (in the page's order)."""
    rids = sorted("rem-" + uuid.uuid4().hex for _ in range(size))
    assignments = [str(uuid.uuid4()) for _ in rids]
    code = digest_code((SECRET,), clinic, rids[0])
    for rid, assignment in zip(rids, assignments, strict=True):
        await tracker.publish(
            dispatched(
                rid,
                clinic,
                assignment_id=assignment,
                occurrence_date=today_utc(),
                provider_message_id="SM" + "d" * 32,
                link_code=done_code((SECRET,), clinic, rid),
                link_expires_at=datetime.now(UTC) + timedelta(hours=72),
                digest_of=rids[0],
                digest_code=code,
            )
        )

    async def listed() -> bool:
        return len(await tracker.runtime.links.records.digest(code)) == size

    await wait_for(listed)
    return digest_url(BASE, code).removeprefix(BASE), assignments


async def test_the_page_lists_each_reminder_and_a_button_records_only_that_one(
    tracker: Tracker,
) -> None:
    clinic = f"clinic-{uuid.uuid4()}"
    path, assignments = await send_digest(tracker, clinic)
    assert path.startswith("/g/")
    page = await tracker.http.get(path)
    assert page.status_code == 200
    assert_private(page)
    for n in (1, 2, 3):
        assert f"Activity {n}" in page.text
        assert f'action="?item={n}"' in page.text
    assert page.text.count("<button") == 3
    await settled(tracker)
    assert recorded(tracker) == []  # opening it records nothing

    done = await tracker.http.post(path + "?item=2")
    assert done.status_code == 200
    assert_private(done)
    assert "it's recorded" in done.text
    assert done.text.count("<button") == 2
    await wait_for(lambda: len(recorded(tracker)) >= 1)
    await settled(tracker)
    [completion] = recorded(tracker)
    assert completion["assignment_id"] == assignments[1]
    assert completion["source"] == "link"
    store = tracker.runtime.store
    assert await store.completions(clinic, assignments[0]) == {}
    assert await store.completions(clinic, assignments[2]) == {}
    again = await tracker.http.post(path + "?item=2")  # a second tap changes nothing
    assert again.text.count("<button") == 2
    await settled(tracker)
    assert len(recorded(tracker)) == 1


async def test_each_reminder_of_the_digest_is_recorded_as_dispatched(tracker: Tracker) -> None:
    clinic = f"clinic-{uuid.uuid4()}"
    rids = sorted("rem-" + uuid.uuid4().hex for _ in range(3))
    code = digest_code((SECRET,), clinic, rids[0])
    for rid in rids:
        await tracker.publish(
            dispatched(
                rid,
                clinic,
                provider_message_id="SM" + "e" * 32,
                link_code=done_code((SECRET,), clinic, rid),
                digest_of=rids[0],
                digest_code=code,
            )
        )

    async def all_sent() -> bool:
        records = [await tracker.runtime.store.reminder(clinic, r) for r in rids]
        return all(_sent(r) for r in records)

    await wait_for(all_sent)
    # Each reminder's own done link works too (the digest page's buttons use them).
    for rid in rids:
        assert await tracker.runtime.links.records.get(done_code((SECRET,), clinic, rid))


def _sent(record: dict[str, Any]) -> bool:
    return record.get("best") == "sent"


async def test_activities_are_named_only_when_the_clinic_allows_details(tracker: Tracker) -> None:
    clinic = f"clinic-{uuid.uuid4()}"
    path, assignments = await send_digest(tracker, clinic, size=2)
    for assignment in assignments:
        await tracker.publish(assigned(assignment, clinic=clinic, client="client-1"))
    await settled(tracker)
    assert "Mood log" not in (await tracker.http.get(path)).text
    policy = ClinicPolicy(
        policy_id="pol-1",
        version=1,
        messaging=Messaging(clinic_name=CLINIC_NAME, allow_activity_details=True),
    )
    await tracker.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=clinic, policy=policy))
    await settled(tracker)
    page = await tracker.http.get(path)
    assert page.text.count("Mood log") == 2


async def test_made_up_and_unknown_digest_links_say_so(tracker: Tracker) -> None:
    clinic = f"clinic-{uuid.uuid4()}"
    path, _ = await send_digest(tracker, clinic, size=2)
    code = path.removeprefix("/g/")
    damaged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert (await tracker.http.get(f"/g/{damaged}")).status_code == 403
    unknown = digest_code((SECRET,), clinic, "rem-" + uuid.uuid4().hex)
    assert (await tracker.http.get(f"/g/{unknown}")).status_code == 404
    assert (await tracker.http.post(f"/g/{unknown}?item=1")).status_code == 404
    # A line that is not there records nothing.
    page = await tracker.http.post(f"{path}?item=9")
    assert page.status_code == 200
    assert page.text.count("<button") == 2


async def test_the_page_reads_in_the_phone_s_language_else_the_clinic_s(tracker: Tracker) -> None:
    clinic = f"clinic-{uuid.uuid4()}"
    path, _ = await send_digest(tracker, clinic, size=2)
    page = await tracker.http.get(path, headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert_private(page, "fr")
    assert "<h1>2 activités</h1>" in page.text
    assert "Marquer l'activité 1 comme faite" in page.text
    done = await tracker.http.post(path + "?item=1", headers={"Accept-Language": "pt-BR"})
    assert_private(done, "pt")
    assert "Obrigado! Está anotado." in done.text
    assert "Feita, obrigado!" in done.text
    assert done.text.count("<button") == 1

    messaging = Messaging(clinic_name=CLINIC_NAME, default_language="es")
    policy = ClinicPolicy(policy_id="pol-1", version=1, messaging=messaging)
    await tracker.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=clinic, policy=policy))
    await settled(tracker)
    page = await tracker.http.get(path, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert_private(page, "es")
    assert "<h1>2 actividades</h1>" in page.text
    assert "Marcar la actividad 2 como hecha" in page.text
    unknown = digest_code((SECRET,), clinic, "rem-" + uuid.uuid4().hex)
    refused = await tracker.http.get(f"/g/{unknown}", headers={"Accept-Language": "es"})
    assert refused.status_code == 404
    assert "Este enlace aún no está listo" in refused.text
