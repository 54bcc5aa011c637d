"""Bodies are validated from their bytes into the handler's annotated event type."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker, TestRabbitBroker
from pydantic import ValidationError

from shared.contracts import InternalEvent, NotificationDispatched, ReminderDue
from shared.contracts.examples import examples
from shared.handling import body_validator, permanent_reason


class Body:
    """The one attribute of a StreamMessage the decoder reads."""

    def __init__(self, body: bytes) -> None:
        self.body = body


def decode(handler: Any, body: bytes) -> Any:
    decoder = body_validator(handler)
    assert decoder is not None
    return asyncio.run(decoder(Body(body)))  # type: ignore[arg-type]


async def on_internal(event: InternalEvent) -> None: ...


async def on_due(event: ReminderDue) -> None: ...


def test_a_union_is_validated_into_the_member_its_type_names() -> None:
    dispatched = examples()["notification.dispatched"]
    got = decode(on_internal, dispatched.model_dump_json().encode())
    assert isinstance(got, NotificationDispatched)
    assert got == dispatched


def test_bad_bodies_raise_validation_errors_with_a_reason_naming_the_field() -> None:
    with pytest.raises(ValidationError) as not_json:
        decode(on_due, b"{not json")
    assert str(permanent_reason(not_json.value, b"{not json")).startswith("body is not valid JSON")
    body = json.loads(examples()["reminder.due"].model_dump_json())
    body["occurred_at"] = "2026-11-21T09:00:00"
    raw = json.dumps(body).encode()
    with pytest.raises(ValidationError) as naive:
        decode(on_internal, raw)
    reason = str(permanent_reason(naive.value, raw))
    assert reason.startswith("reminder.due.occurred_at: ")
    assert "time zone offset" in reason


def test_handlers_without_exactly_one_annotated_parameter_keep_faststreams_decoding() -> None:
    async def two(event: ReminderDue, other: int) -> None: ...

    async def untyped(event):  # type: ignore[no-untyped-def]
        ...

    async def keyword_only(*, event: ReminderDue) -> None: ...

    assert body_validator(two) is None
    assert body_validator(untyped) is None
    assert body_validator(keyword_only) is None


async def test_the_handler_gets_the_validated_event_through_faststream() -> None:
    broker = RabbitBroker()
    seen: list[object] = []

    @broker.subscriber("q", decoder=body_validator(on_internal))
    async def handle(event: InternalEvent) -> None:
        seen.append(event)

    due = examples()["reminder.due"]
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(due.model_dump_json().encode(), "q")
    assert seen == [due]
    assert isinstance(seen[0], ReminderDue)
