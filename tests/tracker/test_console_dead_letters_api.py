"""The console's dead-letter API against the real RabbitMQ: a message dead-lettered as
the handling middleware does it is listed (body redacted), replayed through the normal
path and processed once, or discarded with its reason on record; ops token only."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import aio_pika
import pytest

from shared.broker import event_message
from shared.contracts import CompletionReported
from shared.dead_letters import audit_stream
from shared.handling import (
    ATTEMPT_HEADER,
    DEAD_AT_HEADER,
    ERROR_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
)
from shared.topology import TRACKER_QUEUE
from tests.support.infra import wait_for
from tests.tracker.conftest import OPS, Tracker, settled

pytestmark = pytest.mark.integration
OPS_AUTH = {"Authorization": f"Bearer {OPS}"}
CLINIC_AUTH = {"Authorization": "Bearer token-clinic-a"}
REASON = "gave up after 8 attempts; last error: TransientError: Redis timed out"


def completion(note: str | None = None) -> CompletionReported:
    return CompletionReported(
        clinic_id="clinic-a",
        assignment_id=str(uuid.uuid4()),
        client_ref="client-1",
        occurrence_date=date.today(),
        completed_at=datetime.now(UTC),
        source="sms",
        note=note,
    )


async def dead_letter(tracker: Tracker, event: CompletionReported) -> None:
    """As ``shared.handling`` parks a message whose retries ran out (a transient cause)."""
    topology = tracker.topology
    queue = topology.queue(TRACKER_QUEUE)
    plain = event_message(event)
    message = aio_pika.Message(
        plain.body,
        content_type=plain.content_type,
        message_id=plain.message_id,
        correlation_id=plain.correlation_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={
            ATTEMPT_HEADER: 7,
            REASON_HEADER: REASON,
            ERROR_HEADER: "TransientError",
            QUEUE_HEADER: queue,
            ROUTING_KEY_HEADER: event.type_tag(),
            DEAD_AT_HEADER: datetime.now(UTC).isoformat(),
        },
    )
    dlx = await tracker.channel.get_exchange(topology.dead_letter_exchange, ensure=False)
    await dlx.publish(message, routing_key=queue)


async def depth(tracker: Tracker) -> int | None:
    body = (await tracker.http.get("/api/console/dead-letters", headers=OPS_AUTH)).json()
    [row] = [q for q in body["queues"] if q["queue"] == TRACKER_QUEUE]
    return row["depth"]  # type: ignore[no-any-return]


async def test_a_dead_letter_is_listed_redacted_and_replayed_once(tracker: Tracker) -> None:
    event = completion(note="call me on +4915112345678")
    await dead_letter(tracker, event)
    await wait_for(lambda: depth_is(tracker, 1), timeout=10)
    listed = await tracker.http.get(
        f"/api/console/dead-letters/{TRACKER_QUEUE}", headers=OPS_AUTH, params={"limit": 10}
    )
    [entry] = listed.json()["entries"]
    assert (entry["reason"], entry["error_type"], entry["routing_key"]) == (
        REASON,
        "TransientError",
        "completion.reported",
    )
    assert entry["source_queue"] == tracker.topology.queue(TRACKER_QUEUE)
    assert entry["dead_lettered_at"] is not None
    assert entry["attempt"] == 7
    assert "4915" not in entry["body"]
    assert event.assignment_id in entry["body"]

    replayed = await tracker.http.post(
        f"/api/console/dead-letters/{TRACKER_QUEUE}/replay",
        headers=OPS_AUTH,
        json={"ids": [entry["id"]]},
    )
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["done"], replayed.json()["error"]) == ([entry["id"]], None)
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= 1, timeout=15)
    await settled(tracker)
    [recorded] = tracker.listener.of("completion.recorded")
    assert recorded["assignment_id"] == event.assignment_id
    assert await depth(tracker) == 0


async def test_a_discard_needs_a_reason_and_is_recorded(tracker: Tracker) -> None:
    await dead_letter(tracker, completion())
    await dead_letter(tracker, completion())
    await wait_for(lambda: depth_is(tracker, 2), timeout=10)
    url = f"/api/console/dead-letters/{TRACKER_QUEUE}/discard"
    no_reason = await tracker.http.post(url, headers=OPS_AUTH, json={"all": True})
    assert no_reason.status_code == 422
    nothing = await tracker.http.post(url, headers=OPS_AUTH, json={"reason": "x"})
    assert nothing.status_code == 422  # nothing selected
    done = await tracker.http.post(
        url,
        headers=OPS_AUTH,
        json={"reason_contains": "redis timed out", "reason": "resent by the EHR", "name": "anna"},
    )
    assert len(done.json()["done"]) == 2
    assert await depth(tracker) == 0
    redis = tracker.runtime.store.redis
    records = await redis.xrange(audit_stream(tracker.runtime.settings.redis_prefix)) or []
    assert [(r[b"who"], r[b"reason"]) for _, r in records if r] == [
        (b"ops:anna", b"resent by the EHR")
    ] * 2
    assert tracker.listener.of("completion.recorded") == []


async def test_only_the_ops_token_sees_or_touches_dead_letters(tracker: Tracker) -> None:
    base = "/api/console/dead-letters"
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/{TRACKER_QUEUE}", None),
        ("POST", f"{base}/{TRACKER_QUEUE}/replay", {"all": True}),
        ("POST", f"{base}/{TRACKER_QUEUE}/discard", {"all": True, "reason": "x"}),
    ):
        answer = await tracker.http.request(method, path, headers=CLINIC_AUTH, json=body)
        assert answer.status_code == 403, (method, path)
    unknown = await tracker.http.get(f"{base}/no.such.queue", headers=OPS_AUTH)
    assert unknown.status_code == 404
    assert "tracker.events" in unknown.json()["detail"]
    page = await tracker.http.get("/console/dead-letters")
    assert page.status_code == 200
    assert "operations token only" in page.text


async def depth_is(tracker: Tracker, n: int) -> bool:
    return await depth(tracker) == n
