"""The tracker against the real RabbitMQ and Redis: events in, EHR events out, once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from aio_pika.abc import AbstractChannel

from shared.contracts import (
    ActivityCompleted,
    CompletionReported,
    ConsentChanged,
    NotificationFailed,
    SessionUpcoming,
    new_envelope,
)
from shared.handling import REASON_HEADER
from shared.topology import TRACKER_QUEUE, Exchange
from tests.support.infra import wait_for
from tests.tracker.conftest import (
    CLINIC_TOKENS,
    OPS,
    Tracker,
    assigned,
    dispatched,
    policy_changed,
    settled,
    status,
    today_utc,
)

pytestmark = pytest.mark.integration
A = {"Authorization": "Bearer token-clinic-a"}


async def test_out_of_order_and_duplicate_callbacks_announce_delivery_once(
    tracker: Tracker,
) -> None:
    await tracker.publish(status("rem-1", "delivered"))  # before its send
    await tracker.publish(dispatched("rem-1"))  # late "sent"
    await tracker.publish(status("rem-1", "sent"))
    await tracker.publish(status("rem-1", "delivered"))  # duplicate
    await wait_for(lambda: len(tracker.listener.of("reminder.delivered")) >= 1)
    await settled(tracker)
    delivered = tracker.listener.of("reminder.delivered")
    assert len(delivered) == 1
    assert delivered[0]["reminder_id"] == "rem-1"
    assert delivered[0]["channel"] == "sms"
    assert (delivered[0]["occurrence_date"], delivered[0]["purpose"]) == (
        today_utc().isoformat(),
        "reminder",
    )
    overview = (await tracker.http.get("/api/overview", headers=A)).json()
    assert overview["totals"]["sent"] == 1
    assert overview["totals"]["delivered"] == 1
    assert overview["by_provider"]["twilio"]["delivered"] == 1


async def test_a_status_before_its_send_is_announced_by_the_send(tracker: Tracker) -> None:
    """The callback names its reminder, so it is applied at once; the outcome waits for
    what only the send says (assignment, day, purpose), then is announced once."""
    await tracker.publish(status("rem-2", "undelivered"))
    await settled(tracker, 0.2)
    assert tracker.listener.of("reminder.failed") == []
    await tracker.publish(dispatched("rem-2"))
    await wait_for(lambda: len(tracker.listener.of("reminder.failed")) >= 1)
    await settled(tracker)
    failed = tracker.listener.of("reminder.failed")
    assert len(failed) == 1
    assert failed[0]["reason"] == "undelivered"
    assert failed[0]["assignment_id"] == "asg-1"
    latest = (await tracker.http.get("/api/overview", headers=A)).json()["failures"]
    assert latest[0]["status"] == "undelivered"
    assert set(latest[0]) == {"at", "reminder_id", "channel", "provider", "status", "reason"}


async def test_a_callback_of_the_previous_release_waits_for_its_send(
    tracker: Tracker,
) -> None:
    """A message the previous release sent has a callback URL naming no reminder: it is
    found through the record of its send, and retried (not parked) until that is here."""
    early = status("rem-3", "delivered").model_copy(update={"reminder_id": None})
    await tracker.publish(early)
    await settled(tracker)
    assert tracker.listener.of("reminder.delivered") == []
    await tracker.publish(dispatched("rem-3"))
    await wait_for(lambda: len(tracker.listener.of("reminder.delivered")) >= 1, timeout=30)
    await tracker.publish(status("rem-3", "delivered").model_copy(update={"reminder_id": None}))
    await settled(tracker)
    [delivered] = tracker.listener.of("reminder.delivered")
    assert delivered["reminder_id"] == "rem-3"
    totals = (await tracker.http.get("/api/overview", headers=A)).json()["totals"]
    assert (totals["sent"], totals["delivered"]) == (1, 1)


async def test_a_completion_is_recorded_and_announced_once(tracker: Tracker) -> None:
    day = today_utc()
    completed = ActivityCompleted(
        **new_envelope(),
        clinic_id="clinic-a",
        assignment_id="asg-1",
        client_ref="client-1",
        occurrence_date=day,
        completed_at=datetime.now(UTC),
        rating=8,
    )
    reported = CompletionReported(
        clinic_id="clinic-a",
        assignment_id="asg-1",
        client_ref="client-1",
        occurrence_date=day,
        completed_at=datetime.now(UTC),
        source="sms",
    )
    await tracker.publish(completed)
    await tracker.publish(completed)
    await tracker.publish(reported)
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= 1)
    await wait_for(lambda: len(tracker.listener.of("completion.recorded", "internal")) >= 1)
    await settled(tracker)
    outbound = tracker.listener.of("completion.recorded")
    assert len(outbound) == 1
    assert len(tracker.listener.of("completion.recorded", "internal")) == 1
    assert outbound[0]["source"] == "ehr"
    assert outbound[0]["rating"] == 8
    assert outbound[0]["correlation_id"] == completed.correlation_id


async def test_encouragement_after_a_completion_when_the_clinic_wants_it(
    tracker: Tracker,
) -> None:
    await tracker.publish(policy_changed(encouragement=True))
    await tracker.publish(assigned())
    completed = ActivityCompleted(
        **new_envelope(),
        clinic_id="clinic-a",
        assignment_id="asg-1",
        client_ref="client-1",
        occurrence_date=today_utc(),
        completed_at=datetime.now(UTC),
    )
    await tracker.publish(completed)
    await tracker.publish(completed)
    await wait_for(lambda: len(tracker.listener.of("reminder.due", "internal")) >= 1)
    await settled(tracker)
    [encouragement] = tracker.listener.of("reminder.due", "internal")
    assert encouragement["purpose"] == "encouragement"
    assert encouragement["reminder_id"].startswith("enc-")


async def test_adherence_summary_on_session_upcoming(tracker: Tracker) -> None:
    await tracker.publish(assigned(days_ago=7))
    for days_ago in (7, 6, 5, 3, 2, 1):  # 6 of the 7 past days
        await tracker.publish(
            ActivityCompleted(
                **new_envelope(),
                clinic_id="clinic-a",
                assignment_id="asg-1",
                client_ref="client-1",
                occurrence_date=today_utc() - timedelta(days=days_ago),
                completed_at=datetime.now(UTC),
                note="felt calmer" if days_ago == 1 else None,
            )
        )
    # Messages on one queue are handled concurrently: the session comes after the
    # completions are in, as it does in a clinic (hours later, not milliseconds).
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= 6)
    session = SessionUpcoming(
        **new_envelope(),
        clinic_id="clinic-a",
        session_id="sess-1",
        client_ref="client-1",
        therapist_ref="therapist-1",
        starts_at=datetime.now(UTC) + timedelta(hours=2),
        previous_session_at=datetime.now(UTC) - timedelta(days=7),
    )
    await tracker.publish(session)
    await wait_for(lambda: len(tracker.listener.of("adherence.summary")) >= 1)
    [summary] = tracker.listener.of("adherence.summary")
    assert (summary["due"], summary["done"]) == (7, 6)
    assert summary["rate"] == round(6 / 7, 4)
    [part] = summary["assignments"]
    assert (part["missed"], part["current_streak"], part["longest_streak"]) == (1, 3, 3)
    assert part["notes"] == ["felt calmer"]
    assert summary["correlation_id"] == session.correlation_id


async def test_clinician_alert_once_per_run_of_misses(tracker: Tracker) -> None:
    """Misses come from time passing: the periodic sweep finds them (no reminder.due any
    more), once per run however often it runs."""
    await tracker.publish(policy_changed(after_missed=3))
    await tracker.publish(assigned(days_ago=5))
    await settled(tracker, 0.1)
    sweeps = [await tracker.runtime.escalations.sweep() for _ in range(2)]
    await wait_for(lambda: len(tracker.listener.of("clinician.alert")) >= 1)
    await asyncio.sleep(0.3)
    assert sweeps == [1, 0]
    [alert] = tracker.listener.of("clinician.alert")
    assert alert["consecutive_missed"] == 5
    assert alert["assignment_id"] == "asg-1"


async def test_bad_input_goes_to_the_dead_letter_queue_with_a_reason(
    tracker: Tracker, rabbit_channel: AbstractChannel
) -> None:
    await tracker.publish_raw(b"{not json", "activity.completed", Exchange.INBOUND)
    unknown_status = status("rem-x", "delivered").model_dump(mode="json") | {"status": "lost"}
    body = json.dumps(unknown_status).encode()
    await tracker.publish_raw(body, "delivery.status.changed", Exchange.INTERNAL)
    dlq = await rabbit_channel.declare_queue(tracker.topology.dlq(TRACKER_QUEUE), passive=True)

    async def two() -> bool:
        q = await rabbit_channel.declare_queue(dlq.name, passive=True)
        return q.declaration_result.message_count == 2

    await wait_for(two, timeout=15)
    reasons = []
    for _ in range(2):
        message = await dlq.get(no_ack=True)
        assert message is not None
        reasons.append(str((message.headers or {})[REASON_HEADER]))
    assert any("JSON" in r for r in reasons)
    assert any("delivery.status.changed.status: Input should be" in r for r in reasons), reasons


async def test_dashboard_api_needs_a_token_and_scopes_clinics(tracker: Tracker) -> None:
    await tracker.publish(dispatched("rem-a1", clinic="clinic-a"))
    await tracker.publish(status("rem-a1", "delivered", clinic="clinic-a"))
    await tracker.publish(
        NotificationFailed(
            clinic_id="clinic-b",
            reminder_id="rem-b1",
            client_ref="client-9",
            channel="email",
            provider="smtp",
            reason="mailbox +4915112345678 user@example.org unavailable",
            permanent=True,
        )
    )
    await tracker.publish(
        ConsentChanged(
            clinic_id="clinic-b",
            client_ref="client-9",
            channel="sms",
            opted_out=True,
            source="sms_keyword",
        )
    )
    await settled(tracker, 0.2)
    http = tracker.http
    assert (await http.get("/api/overview")).status_code == 401
    assert (
        await http.get("/api/overview", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    other = await http.get("/api/overview?clinic=clinic-b", headers=A)
    assert other.status_code == 403
    mine = (await http.get("/api/overview", headers=A)).json()
    assert set(mine["by_clinic"]) == {"clinic-a"}
    assert mine["queues"] is None
    ops = (await http.get("/api/overview", headers={"Authorization": f"Bearer {OPS}"})).json()
    assert set(ops["by_clinic"]) == {"clinic-a", "clinic-b"}
    assert ops["opt_outs"] == {"sms": 1}
    reasons = " ".join(ops["failure_reasons"])
    assert "4915112345678" not in reasons
    assert "example.org" not in reasons
    tracker_queue = next(q for q in ops["queues"] if q["queue"] == TRACKER_QUEUE)
    assert tracker_queue["consumers"] >= 1
    assert tracker_queue["dlq_messages"] == 0
    assert set(CLINIC_TOKENS.values()) <= set(
        (await http.get("/api/whoami", headers={"Authorization": f"Bearer {OPS}"})).json()[
            "clinics"
        ]
    )
    page = await http.get("/dashboard")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "http" not in page.text.split("<script>")[1].replace("http://www.w3.org", "")


async def test_metrics_show_handling_outcomes_and_retries(tracker: Tracker) -> None:
    await tracker.publish(
        NotificationFailed(
            clinic_id="clinic-a",
            reminder_id="rem-m1",
            client_ref="client-1",
            channel="sms",
            provider="twilio",
            reason="timeout",
            permanent=False,
        )
    )
    await tracker.publish(dispatched("rem-m1"))
    await settled(tracker, 0.2)
    text = (await tracker.http.get("/metrics")).text
    queue = tracker.topology.queue(TRACKER_QUEUE)
    assert (
        f'bs_messages_handled_total{{event_type="notification.failed",outcome="ok",queue="{queue}"}}'
        in text
    )
    assert f'bs_message_handling_seconds_count{{queue="{queue}"}}' in text
    for outcome in ("retried", "sent"):
        labels = f'channel="sms",outcome="{outcome}",provider="twilio"'
        assert f"bs_tracker_delivery_outcomes_total{{{labels}}}" in text
    for family in ("bs_retries_total", "bs_dead_lettered_total"):
        assert f"# TYPE {family} counter" in text


@pytest.mark.parametrize("outcome", ["delivered", "undelivered"])
async def test_outcomes_from_provider_callbacks_carry_the_ehrs_correlation_id(
    tracker: Tracker, outcome: str
) -> None:
    """The EHR's id travels with the reminder (the notifier's send carries it); a
    provider callback, with an id of its own, must not replace it on the outcome."""
    ehr = "ehr-req-7f3c2a"
    rid = "rem-" + "5e" * 16
    await tracker.publish(assigned().model_copy(update={"correlation_id": ehr}))
    await tracker.publish(dispatched(rid, correlation_id=ehr))
    await settled(tracker, 0.1)
    callback = status(rid, outcome).model_copy(update={"reminder_id": None})
    assert callback.correlation_id != ehr
    await tracker.publish(callback)
    kind = "reminder.delivered" if outcome == "delivered" else "reminder.failed"
    await wait_for(lambda: len(tracker.listener.of(kind)) >= 1)
    [announced] = tracker.listener.of(kind)
    assert announced["correlation_id"] == ehr
    assert announced["causation_id"] == str(callback.event_id)
