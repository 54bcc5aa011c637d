"""Dispatch rate and per-message overhead of the notifier, through RabbitMQ and Redis,
against the local Twilio-shaped fake. Prints one JSON object.

    uv run python bench/notifier_bench.py [--messages 500]

``overhead_ms_per_message`` is the pipeline's time per message (consume, directory and
dedupe in Redis, render, rate limit, publish the outcome) minus the time of a bare
provider call to the same fake.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aio_pika

from notifier.app import create_app
from notifier.providers.base import OutboundMessage
from notifier.providers.twilio import TwilioProvider
from notifier.settings import NotifierSettings
from shared.broker import delete_topology, publish_event
from shared.contracts import (
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.logging import configure_logging
from shared.topology import Exchange, Topology
from tests.fakes.twilio_api import FakeTwilio
from tests.support.infra import (
    AMQP_URL,
    REDIS_URL,
    delete_redis_namespace,
    unique_namespace,
)
from tests.support.services import running

CLINIC = "clinic-bench"


def client(n: int) -> str:
    """One client per reminder: the send-time caps (a few a day per client) would
    otherwise hold back all but the first ones, which is right, but no benchmark."""
    return f"client-bench-{n:05d}"


def prefs(n: int) -> ClientPreferencesChanged:
    return ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=client(n),
        version=1,
        timezone="UTC",
        contacts=ContactPoints(sms=f"+49151{n:08d}"),
        consent=ChannelConsent(sms=True),
    )


def due(n: int) -> ReminderDue:
    return ReminderDue(
        clinic_id=CLINIC,
        reminder_id=f"rem-bench-{n}",
        assignment_id=f"asg-bench-{n}",
        assignment_version=1,
        client_ref=client(n),
        occurrence_date=date.today(),
        purpose=ReminderPurpose.REMINDER,
        planned_for=datetime.now(UTC),
        activity_kind=ActivityKind.MOOD_LOG,
        activity_title="Mood log",
        policy_id="p",
    )


async def bare_provider_ms(fake: FakeTwilio, n: int) -> float:
    provider = TwilioProvider(
        base_url=fake.base_url,
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        from_number="+15005550006",
        status_callback="http://127.0.0.1:9/cb",
        timeout=5,
    )
    message = OutboundMessage(Channel.SMS, "r", to_phone="+4915100000000", text="x" * 120)
    started = time.perf_counter()
    for _ in range(n):
        await provider.send(message)
    await provider.aclose()
    return (time.perf_counter() - started) * 1000 / n


async def main(count: int) -> dict[str, object]:
    configure_logging("bench", "WARNING", "console")
    namespace = unique_namespace("bench")
    topology = Topology(namespace=namespace)
    fake = FakeTwilio()
    await fake.start()
    settings = NotifierSettings(
        namespace=namespace,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        log_level="WARNING",
        sms_provider="twilio",
        twilio_base_url=fake.base_url,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        sms_rate_per_second=10_000,
    )
    connection = await aio_pika.connect(AMQP_URL)
    try:
        async with running(create_app(settings)):
            channel = await connection.channel()
            dispatched: list[float] = []
            observer = await channel.declare_queue(exclusive=True, auto_delete=True)
            await observer.bind(topology.exchange(Exchange.INTERNAL), "notification.dispatched")

            all_dispatched = asyncio.Event()

            async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                dispatched.append(time.perf_counter())
                await message.ack()
                if len(dispatched) >= count:
                    all_dispatched.set()

            await observer.consume(on_event)
            await asyncio.gather(
                *(publish_event(channel, topology, prefs(n)) for n in range(count))
            )
            await asyncio.sleep(max(0.5, count / 500))  # the directory stores them first
            started = time.perf_counter()
            await asyncio.gather(*(publish_event(channel, topology, due(n)) for n in range(count)))
            published_s = time.perf_counter() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_dispatched.wait(), timeout=300)
            elapsed = (dispatched[-1] if dispatched else time.perf_counter()) - started
        provider_messages = len(fake.messages)
        bare = await bare_provider_ms(fake, min(count, 200))
    finally:
        await connection.close()
        await fake.stop()
        await delete_topology(AMQP_URL, topology)
        await delete_redis_namespace(REDIS_URL, namespace)
    per_message_ms = elapsed * 1000 / max(len(dispatched), 1)
    return {
        "bench": "notifier_dispatch",
        "messages": count,
        "dispatched": len(dispatched),
        "provider_messages": provider_messages,
        "publish_seconds": round(published_s, 3),
        "elapsed_seconds": round(elapsed, 3),
        "dispatch_rate_per_second": round(len(dispatched) / elapsed, 1) if elapsed else None,
        "pipeline_ms_per_message": round(per_message_ms, 3),
        "bare_provider_call_ms": round(bare, 3),
        "overhead_ms_per_message": round(per_message_ms - bare, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.messages))))
