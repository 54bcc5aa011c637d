"""The compact key layout (``tracker/encoding.py``): what is stored reads back the same,
a reminder hash stays a listpack, and state the previous layout left (readable reminder
and message hashes, JSON completions with claim keys) keeps working after the upgrade."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.contracts import CompletionReported, Event
from shared.service import redis_text
from tests.tracker.conftest import settings_for, today_utc
from tests.tracker.test_delivery_store import Published, callback, send
from tracker import encoding
from tracker.handlers import handle
from tracker.runtime import Runtime, UseCases

CLINIC = "cabinet-de-psychologie-clinique-et-therapies-comportementales-de-lyon-7f3a"
NOW = datetime(2026, 12, 3, 8, 15, 30, 123456, tzinfo=UTC)


# -- pure: encodings ----------------------------------------------------------------------


def test_a_timeline_entry_round_trips_with_its_times_and_an_odd_reason() -> None:
    entry = {
        "at": NOW.isoformat(),
        "kind": "moved",
        "reminder_id": str(uuid.uuid4()),
        "reason": "quiet_hours",
        "until": (NOW + timedelta(hours=9)).replace(microsecond=0).isoformat(),
    }
    stored = encoding.encode_entry(entry)
    assert list(stored) == [encoding.ENTRY_FIELD]  # one field name for every entry
    assert encoding.decode_entry(stored) == entry
    odd = {**entry, "reason": "provider said \x1f and [brackets]"}
    assert encoding.decode_entry(encoding.encode_entry(odd)) == odd
    legacy = {"at": NOW.isoformat(), "kind": "sent", "channel": "sms"}
    assert encoding.decode_entry(legacy) == legacy


def test_reminder_fields_are_short_and_read_back_with_their_messages() -> None:
    reminder = {"best": "delivered", "best_rank": "5", "announced:delivered": "1"}
    reminder |= {"tl:sms:sent|": "1", "client_ref": "c-1", "timeline:pending": ""}
    stored = encoding.reminder_fields(reminder)
    stored |= encoding.message_fields("sms", {"status": "delivered", "rank": "5", "left": "1"})
    assert "best_rank" not in stored
    assert {"b", "!delivered", "sms.s"} <= set(stored)
    back, messages = encoding.decode_reminder(stored)
    assert back == {k: v for k, v in reminder.items() if k != "best_rank"}
    assert messages == {"sms": {"status": "delivered", "left": "1"}}


def test_a_completion_keeps_what_it_says_behind_its_claim() -> None:
    data = {"at": NOW.isoformat(), "source": "ehr", "rating": 7, "note": None}
    stored = encoding.encode_completion(data)
    assert stored.startswith(encoding.CLAIMED)
    assert encoding.decode_completion(stored) == {
        "at": int(NOW.timestamp()),
        "source": "ehr",
        "rating": 7,
    }
    assert encoding.decode_completion(json.dumps(data))["rating"] == 7  # previous layout


# -- against the real Redis -----------------------------------------------------------------


@pytest.fixture
async def tracker(namespace: str, redis: Redis) -> tuple[UseCases, Published]:
    published = Published()
    settings = settings_for(namespace)
    cases = Runtime(settings).open(redis, f"{settings.redis_prefix}:tracker", published)
    return cases, published


async def fed(cases: UseCases, *events: Event) -> None:
    for event in events:
        await handle(cases, event)  # type: ignore[arg-type]  # any tracker input


@pytest.mark.integration
async def test_a_delivered_reminder_is_one_small_listpack_hash_for_the_detail_retention(
    tracker: tuple[UseCases, Published], redis: Redis
) -> None:
    cases, published = tracker
    sent = send(CLINIC, str(uuid.uuid4()))
    await fed(cases, sent, callback(sent))
    key = cases.store.keys.reminder(CLINIC, sent.reminder_id)
    assert await redis.object("encoding", key) == b"listpack"
    ttl = await redis.ttl(key)
    assert 13 * 86_400 < ttl <= 14 * 86_400
    assert not [k async for k in redis.scan_iter(match=cases.store.keys.key("message", "*"))]
    meta, messages = await cases.store.reminder_console(CLINIC, sent.reminder_id, ["sms"])
    assert (meta["best"], meta["client_ref"]) == ("delivered", sent.client_ref)
    assert messages["sms"] == {"status": "delivered", "provider": "twilio", "left": "1"}
    assert len(published.of("reminder.delivered")) == 1


@pytest.mark.integration
async def test_a_reminder_the_previous_layout_holds_is_carried_over_and_announced_once(
    tracker: tuple[UseCases, Published], redis: Redis
) -> None:
    """Sent (and announced as failed, then retried) before the upgrade: its delivered
    callback after it announces delivered once, from what the old hashes said."""
    cases, published = tracker
    k, reminder_id = cases.store.keys, str(uuid.uuid4())
    sent = send(CLINIC, reminder_id)
    old: dict[Any, Any] = {
        "rev": "3",
        "best": "sent",
        "best_rank": "2",
        "best_channel": "sms",
        "assignment_id": str(sent.assignment_id),
        "client_ref": str(sent.client_ref),
        "occurrence_date": today_utc().isoformat(),
        "purpose": "reminder",
        "correlation_id": str(sent.correlation_id),
        "tl:sms:sent|": "1",
    }
    await redis.hset(k.legacy_reminder(CLINIC, reminder_id), mapping=old)
    await redis.hset(
        k.legacy_message(CLINIC, reminder_id, "sms"),
        mapping={"status": "sent", "rank": "2", "provider": "twilio"},
    )
    await fed(cases, callback(sent), callback(sent))
    [delivered] = published.of("reminder.delivered")
    assert delivered.correlation_id == sent.correlation_id
    meta = await cases.store.reminder(CLINIC, reminder_id)
    assert (meta["best"], meta["assignment_id"]) == ("delivered", sent.assignment_id)
    assert meta["rev"] == "1"  # the new hash's own count
    # The console reads the new hash now, with the channel carried over.
    _, messages = await cases.store.reminder_console(CLINIC, reminder_id, ["sms"])
    assert messages["sms"]["status"] == "delivered"


@pytest.mark.integration
async def test_a_completion_from_the_previous_layout_is_not_announced_again(
    tracker: tuple[UseCases, Published], redis: Redis
) -> None:
    cases, published = tracker
    k, assignment_id, day = cases.store.keys, str(uuid.uuid4()), today_utc()
    done = {"at": NOW.isoformat(), "source": "ehr", "rating": 8, "note": None}
    await redis.hset(k.completions(CLINIC, assignment_id), day.isoformat(), json.dumps(done))
    claim = k.once("completion", f"{CLINIC}/{assignment_id}", day.isoformat())
    await redis.set(claim, "1")
    report = CompletionReported(
        clinic_id=CLINIC,
        assignment_id=assignment_id,
        client_ref=str(uuid.uuid4()),
        occurrence_date=day,
        completed_at=NOW,
        source="link",
    )
    await fed(cases, report)
    assert published.of("completion.recorded") == []
    found = await cases.store.completions(CLINIC, assignment_id)
    assert found[day].rating == 8
    # A new completion: recorded and announced once, its claim inside its value.
    other = report.model_copy(update={"occurrence_date": day - timedelta(days=1)})
    await fed(cases, other, other)
    assert len(published.of("completion.recorded")) == 1
    raw = await redis.hget(k.completions(CLINIC, assignment_id), other.occurrence_date.isoformat())
    assert raw is not None
    assert redis_text(raw).startswith("1{")


@pytest.mark.integration
async def test_a_released_completion_claim_is_claimed_by_the_retry(
    tracker: tuple[UseCases, Published], redis: Redis
) -> None:
    cases, _ = tracker
    assignment_id, day = str(uuid.uuid4()), today_utc()
    store = cases.store
    data = {"at": NOW.isoformat(), "source": "sms"}
    entry = {"at": NOW.isoformat(), "kind": "completed"}

    async def commit() -> tuple[bool, bool, bool]:
        return await store.commit_completion(
            CLINIC, assignment_id, day, data, False, client_ref="c-1", entry=entry, now=NOW
        )

    assert await commit() == (True, True, False)
    assert await commit() == (False, False, False)  # a repeat: claimed already
    await store.release_completion(CLINIC, assignment_id, day)  # its publish failed
    assert await commit() == (False, True, False)  # the retry announces
