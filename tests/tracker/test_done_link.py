"""The one-tap done link against the real RabbitMQ and Redis: opening it records nothing,
its button records once, and bad, unknown, expired and outdated links say so clearly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from pydantic import SecretStr

from shared.contracts import ClinicPolicy, ClinicPolicyChanged, Messaging, new_envelope
from shared.links import done_code, done_url
from shared.topology import Topology
from tests.support.infra import wait_for
from tests.tracker.conftest import (
    SECRET,
    Tracker,
    dispatched,
    settings_for,
    settled,
    started,
    today_utc,
)

pytestmark = pytest.mark.integration
BASE = "https://go.between-sessions.example"
CLINIC = f"clinic-{uuid.uuid4()}"
EHR_CORRELATION = f"ehr-req-{uuid.uuid4()}"


def reminder_id() -> str:
    return "rem-" + uuid.uuid4().hex


async def send_with_link(
    tracker: Tracker, secrets: tuple[str, ...] = (SECRET,), clinic: str = CLINIC, **extra: Any
) -> tuple[str, str, str]:
    """A send with a done link, as the notifier announces it; returns the link's path,
    the reminder and the assignment."""
    rid, assignment = reminder_id(), str(uuid.uuid4())
    code = done_code(secrets, clinic, rid)
    when = {"link_expires_at": datetime.now(UTC) + timedelta(hours=72), **extra}
    await tracker.publish(
        dispatched(
            rid,
            clinic,
            assignment_id=assignment,
            occurrence_date=today_utc(),
            purpose="reminder",
            link_code=code,
            correlation_id=EHR_CORRELATION,
            **when,
        )
    )

    async def stored() -> bool:
        return await tracker.runtime.links.records.get(code) is not None

    await wait_for(stored)
    url = done_url(BASE, code)
    assert len(code) == 21
    assert url.startswith(BASE + "/d/")
    return url.removeprefix(BASE), rid, assignment


def recorded(tracker: Tracker) -> list[dict[str, Any]]:
    return tracker.listener.of("completion.recorded")


def assert_private(response: Any, language: str = "en") -> None:
    headers = response.headers
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert "noindex" in headers["x-robots-tag"]
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert f'<html lang="{language}">' in text
    assert 'name="viewport"' in text
    assert "homework" not in text.lower()
    assert "Mood log" not in text
    assert "http" not in text


async def test_opening_the_link_records_nothing_and_its_button_records_once(
    tracker: Tracker,
) -> None:
    path, _, assignment = await send_with_link(tracker)
    for _ in range(3):  # a link previewer, a mail scanner, the person
        page = await tracker.http.get(path)
        assert page.status_code == 200
        assert_private(page)
        assert '<form method="post">' in page.text
        assert page.text.count("<button") == 1
    await settled(tracker)
    assert recorded(tracker) == []
    store = tracker.runtime.store
    assert await store.completions(CLINIC, assignment) == {}

    first = await tracker.http.post(path)
    assert first.status_code == 200
    assert_private(first)
    assert "it's recorded" in first.text
    await wait_for(lambda: len(recorded(tracker)) >= 1)
    second = await tracker.http.post(path)
    assert "Already recorded" in second.text
    assert "Already recorded" in (await tracker.http.get(path)).text
    await settled(tracker)
    [done] = recorded(tracker)
    assert done["source"] == "link"
    assert (done["clinic_id"], done["assignment_id"]) == (CLINIC, assignment)
    assert done["correlation_id"] == EHR_CORRELATION


async def test_made_up_damaged_unknown_expired_and_old_links_say_so(tracker: Tracker) -> None:
    path, _, _ = await send_with_link(tracker)
    code = path.removeprefix("/d/")
    damaged = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (damaged, "x" * 21, "abc", done_code(("another-clinics-secret",), CLINIC, "r-1")):
        for method in ("GET", "POST"):
            answer = await tracker.http.request(method, f"/d/{bad}")
            assert answer.status_code == 403, (bad, method)
            assert "does not work" in answer.text
            assert_private(answer)

    unknown = await tracker.http.get(f"/d/{done_code((SECRET,), CLINIC, reminder_id())}")
    assert unknown.status_code == 404
    assert unknown.headers["retry-after"] == "60"
    assert "not ready yet" in unknown.text

    expired_path, _, _ = await send_with_link(
        tracker, link_expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    for method in ("GET", "POST"):
        expired = await tracker.http.request(method, expired_path)
        assert expired.status_code == 410
        assert "has expired" in expired.text

    old = await tracker.http.get("/done/eyJjIjoiY2xpbmljLWEifQ.c2lnbmF0dXJl")
    assert old.status_code == 410
    assert "older version" in old.text
    assert_private(old)
    await settled(tracker)
    assert recorded(tracker) == []


async def test_links_made_with_a_rotated_out_secret_keep_working(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> None:
    old = "old-link-secret-" + "o" * 32
    new = "new-link-secret-" + "n" * 32
    rotated = settings_for(topology.namespace, link_secrets=(SecretStr(new), SecretStr(old)))
    async with started(rotated, topology, rabbit_channel) as tracker:
        path, _, _ = await send_with_link(tracker, secrets=(old,))
        assert (await tracker.http.get(path)).status_code == 200
        assert "it's recorded" in (await tracker.http.post(path)).text
        fresh, _, _ = await send_with_link(tracker, secrets=(new, old))
        assert (await tracker.http.get(fresh)).status_code == 200
        await wait_for(lambda: len(recorded(tracker)) >= 1)
        assert recorded(tracker)[0]["correlation_id"] == EHR_CORRELATION


async def test_pages_follow_the_phone_s_language_then_the_clinic_s(tracker: Tracker) -> None:
    """The tracker does not keep the client's language: the browser's comes first (one we
    have texts for), then the clinic's default, then English."""
    clinic = f"clinic-{uuid.uuid4()}"
    path, _, _ = await send_with_link(tracker, clinic=clinic)
    spanish = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.8"}
    page = await tracker.http.get(path, headers=spanish)
    assert_private(page, "es")
    assert "¿Pudiste hacer tu práctica?" in page.text
    assert "Sí, marcar como hecha" in page.text

    messaging = Messaging(
        clinic_name="Clínica de Psicoterapia e Saúde Mental do Vale do Paraíba",
        default_language="pt-BR",
    )
    policy = ClinicPolicy(policy_id="pol-1", version=1, messaging=messaging)
    await tracker.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=clinic, policy=policy))
    await settled(tracker)
    german = {"Accept-Language": "de-DE,de;q=0.9"}  # no texts in German: the clinic's
    page = await tracker.http.get(path, headers=german)
    assert_private(page, "pt")
    assert "Você conseguiu fazer sua prática?" in page.text
    assert "Sim, marcar como feita" in page.text
    assert "Pudiste" in (await tracker.http.get(path, headers=spanish)).text  # still the phone's

    done = await tracker.http.post(path, headers={"Accept-Language": "fr-CA,fr;q=0.8"})
    assert_private(done, "fr")
    assert "Merci, c'est noté" in done.text
    again = await tracker.http.get(path)  # no header: the clinic's default
    assert_private(again, "pt")
    assert "Já estava anotado" in again.text

    # Links that name nothing we can read: the browser's language, else English.
    unknown = await tracker.http.get(f"/d/{done_code((SECRET,), clinic, reminder_id())}")
    assert unknown.status_code == 404
    assert_private(unknown)
    damaged = await tracker.http.get(f"/d/{'x' * 21}", headers=spanish)
    assert damaged.status_code == 403
    assert_private(damaged, "es")
    assert "Este enlace no funciona" in damaged.text
    old = await tracker.http.post("/done/eyJjIjoiY2xpbmljLWEifQ.c2lnbmF0dXJl", headers=german)
    assert old.status_code == 410
    assert_private(old)
    assert "older version" in old.text
