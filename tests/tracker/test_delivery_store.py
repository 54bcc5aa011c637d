"""The delivery path against the real Redis: round trips per event, and exactly one
announcement when a send and its status are handled side by side by two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from shared.contracts import DeliveryStatusChanged, Event, NotificationDispatched
from shared.errors import TransientError
from tests.tracker.conftest import settings_for, today_utc
from tracker.handlers import handle
from tracker.runtime import Runtime, UseCases

pytestmark = pytest.mark.integration
CLINIC = "klinik-fuer-psychotherapie-und-verhaltensmedizin-am-stadtpark:" + str(uuid.uuid4())


class Published:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        await asyncio.sleep(0)  # a real publish waits for the broker
        self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type_tag() == kind]


@pytest.fixture
async def replicas(namespace: str, redis: Redis) -> AsyncIterator[list[tuple[UseCases, Published]]]:
    """Two tracker replicas' use cases on one Redis, each with its own client and publisher."""
    settings = settings_for(namespace)
    prefix = f"{settings.redis_prefix}:tracker"
    clients = [Redis.from_url(settings.redis_url) for _ in range(2)]
    result = []
    for client in clients:
        published = Published()
        result.append((Runtime(settings).open(client, prefix, published), published))
    yield result
    for client in clients:
        await client.aclose()


def send(clinic: str, reminder_id: str, **extra: Any) -> NotificationDispatched:
    return NotificationDispatched(
        clinic_id=clinic,
        reminder_id=reminder_id,
        client_ref=str(uuid.uuid4()),
        assignment_id=str(uuid.uuid4()),
        occurrence_date=today_utc(),
        purpose="reminder",
        channel="sms",
        provider="twilio",
        provider_message_id="SM" + uuid.uuid4().hex,
        link_code="A" * 21,  # not this deployment's: no link record is written
        **extra,
    )


def callback(sent: NotificationDispatched, status: str = "delivered") -> DeliveryStatusChanged:
    return DeliveryStatusChanged(
        clinic_id=sent.clinic_id,
        provider=sent.provider,
        provider_message_id=sent.provider_message_id,
        reminder_id=sent.reminder_id,
        channel=sent.channel,
        status=status,
        reported_at=datetime.now(UTC),
    )


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts requests sent to Redis: a command, a pipeline or a script is one each."""
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        await original(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", counted)
        yield sent


async def test_a_send_and_its_status_take_two_round_trips_each(
    replicas: list[tuple[UseCases, Published]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cases, published = replicas[0]
    warm = send(CLINIC, str(uuid.uuid4()))  # connects and loads the scripts
    await handle(cases, warm)
    await handle(cases, callback(warm))
    sent = send(CLINIC, str(uuid.uuid4()))
    with round_trips(monkeypatch) as dispatched:
        await handle(cases, sent)
    with round_trips(monkeypatch) as status:
        await handle(cases, callback(sent))
    with round_trips(monkeypatch) as repeated:
        await handle(cases, callback(sent))
    assert (len(dispatched), len(status), len(repeated)) == (2, 2, 1)
    assert len(published.of("reminder.delivered")) == 2


async def test_a_send_and_its_status_side_by_side_announce_once(
    replicas: list[tuple[UseCases, Published]],
) -> None:
    """No InOrder between replicas: the commit's revision check makes the loser decide
    again on what the winner wrote, so whichever completes the picture announces."""
    (one, published_one), (other, published_other) = replicas
    sends = [send(CLINIC, str(uuid.uuid4())) for _ in range(60)]
    # The same reminder ids in another clinic: their own outcomes.
    sends += [s.model_copy(update={"clinic_id": "clinic-b"}) for s in sends[:10]]
    jobs = []
    for i, sent in enumerate(sends):
        first, second = (one, other) if i % 2 else (other, one)
        status = "delivered" if i % 3 else "undelivered"
        jobs += [handle(first, sent), handle(second, callback(sent, status))]
    await asyncio.gather(*jobs)
    announced = [
        (e.clinic_id, getattr(e, "reminder_id", None))
        for e in published_one.events + published_other.events
    ]
    assert sorted(announced) == sorted((s.clinic_id, s.reminder_id) for s in sends)


async def test_a_callback_of_the_previous_release_is_retried_until_its_send_is_known(
    replicas: list[tuple[UseCases, Published]],
) -> None:
    cases, published = replicas[0]
    sent = send(CLINIC, str(uuid.uuid4()))
    legacy = callback(sent).model_copy(update={"clinic_id": "system", "reminder_id": None})
    with pytest.raises(TransientError):
        await handle(cases, legacy)
    await handle(cases, sent)
    await handle(cases, legacy)
    [delivered] = published.of("reminder.delivered")
    assert (delivered.clinic_id, getattr(delivered, "reminder_id", None)) == (
        CLINIC,
        sent.reminder_id,
    )


async def test_a_failed_publish_releases_the_claim_so_the_retry_announces(
    replicas: list[tuple[UseCases, Published]],
) -> None:
    cases, published = replicas[0]
    sent = send(CLINIC, str(uuid.uuid4()))
    await handle(cases, sent)

    async def broken(event: Event) -> None:
        raise ConnectionError("broker away")

    cases.delivery.publisher = type("Broken", (), {"publish": staticmethod(broken)})()
    with pytest.raises(ConnectionError):
        await handle(cases, callback(sent))
    cases.delivery.publisher = published
    await handle(cases, callback(sent))  # the retry
    await handle(cases, callback(sent))  # a duplicate
    assert len(published.of("reminder.delivered")) == 1
