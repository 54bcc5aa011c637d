"""Demo EHR simulator: publish a sample assignment and watch the reminder travel.

It plays the clinic's EHR: publishes a clinic policy, a client's preferences and an
assignment whose first reminder is due a few seconds from now, then follows the
reminder through the system (scheduler -> notifier -> tracker -> back to the EHR),
marks the activity done, announces a session and waits for the adherence summary.

Usage: python scripts/demo_ehr.py [--namespace NS] [--amqp-url URL] [--timeout S] [--user-id]
Exit code 0 when every step was seen, 1 otherwise (it says which step is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.broker import publish_event
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityCompleted,
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Event,
    Frequency,
    QuietHours,
    RuleOverride,
    Schedule,
    SessionUpcoming,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.tenancy import connection_user
from shared.topology import PUBLISH_TO, Exchange, Topology

CLINIC = "clinic-demo"
TZ = "UTC"

# The steps of the journey, in order, with the event type that proves each.
STEPS = [
    # The scheduler hands it over SCHEDULER_FIRE_AHEAD_MS early; the notifier sends on time.
    ("reminder.due", "scheduler handed the reminder to the notifier, just ahead of its time"),
    ("notification.dispatched", "notifier handed the message to a provider at its time"),
    ("completion.recorded", "tracker recorded the client's completion (sent to the EHR)"),
    ("adherence.summary", "tracker sent the pre-session adherence summary to the EHR"),
]


@dataclass
class Journey:
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, kind: str, body: dict[str, Any]) -> None:
        if kind not in self.seen:
            self.seen[kind] = body
            self.changed.set()


def say(message: str) -> None:
    print(f"[demo {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def build_events(run: str, lead: timedelta) -> tuple[list[Event], ActivityAssigned]:
    now = datetime.now(UTC)
    due_at = (now + lead).time().replace(microsecond=0)
    # Quiet hours far from now, so the demo works at any hour.
    quiet = QuietHours(start=time((now.hour + 8) % 24), end=time((now.hour + 9) % 24))
    base = example_policy()
    policy = base.model_copy(
        update={
            "policy_id": "demo-policy",
            "quiet_hours": quiet,
            "messaging": base.messaging.model_copy(update={"encouragement": True}),
        }
    )
    client = f"client-{run}"
    events: list[Event] = [
        ClinicPolicyChanged(**new_envelope(run), clinic_id=CLINIC, policy=policy),
        ClientPreferencesChanged(
            **new_envelope(run),
            clinic_id=CLINIC,
            client_ref=client,
            version=1,
            timezone=TZ,
            channels=(Channel.SMS, Channel.EMAIL),
            contacts=ContactPoints(sms="+15005550006", email="client@example.org"),
            consent=ChannelConsent(sms=True, email=True),
            language="en",
            quiet_hours=quiet,
        ),
    ]
    assignment = ActivityAssigned(
        **new_envelope(run),
        clinic_id=CLINIC,
        assignment_id=f"asg-{run}",
        client_ref=client,
        therapist_ref="therapist-demo",
        activity=Activity(kind=ActivityKind.THOUGHT_RECORD, title="Thought record"),
        schedule=Schedule(
            timezone=TZ,
            start=now.date(),
            end=now.date() + timedelta(days=6),
            frequency=Frequency.DAILY,
            times_of_day=(due_at,),
        ),
        policy_id="demo-policy",
        overrides=RuleOverride(spread_minutes=0, nudges=()),
    )
    return events, assignment


async def publish(
    channel: AbstractChannel, topology: Topology, event: Event, user_id: str | None = None
) -> None:
    assert PUBLISH_TO[event.type_tag()] == (Exchange.INBOUND,)
    await publish_event(channel, topology, event, user_id=user_id)


async def watch(channel: AbstractChannel, topology: Topology, journey: Journey, run: str) -> None:
    """An exclusive queue bound to the outbound exchange (what an EHR would do) and, for the
    demo's narration only, to the internal exchange."""
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.exchange(Exchange.OUTBOUND), routing_key="#")
    await queue.bind(topology.exchange(Exchange.INTERNAL), routing_key="#")

    async def on_message(message: AbstractIncomingMessage) -> None:
        async with message.process():
            body = json.loads(message.body)
            if body.get("correlation_id") == run or run in json.dumps(body):
                journey.record(str(body.get("type")), body)

    await queue.consume(on_message)


async def wait_step(journey: Journey, kind: str, deadline: float) -> dict[str, Any] | None:
    loop = asyncio.get_running_loop()
    while kind not in journey.seen:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        journey.changed.clear()
        try:
            await asyncio.wait_for(journey.changed.wait(), timeout=remaining)
        except TimeoutError:
            return None
    return journey.seen[kind]


async def main(args: argparse.Namespace) -> int:
    topology = Topology(namespace=args.namespace)
    run = f"demo-{uuid.uuid4().hex[:8]}"
    # The services' *_TENANTS must let this user speak for CLINIC.
    user_id = connection_user(args.amqp_url) if args.user_id else None
    connection = await aio_pika.connect(args.amqp_url)
    async with connection:
        channel = await connection.channel()
        journey = Journey()
        await watch(channel, topology, journey, run)
        events, assignment = build_events(run, timedelta(seconds=args.lead))
        for event in events:
            await publish(channel, topology, event, user_id)
        await asyncio.sleep(1)  # let policy and preferences land before the assignment
        await publish(channel, topology, assignment, user_id)
        at = assignment.schedule.times_of_day[0]  # type: ignore[index]
        say(f"EHR assigned activity {assignment.assignment_id}: daily reminder at {at} {TZ}")
        deadline = asyncio.get_running_loop().time() + args.timeout
        for kind, meaning in STEPS:
            if kind == "completion.recorded":
                await publish(channel, topology, completion(assignment, run), user_id)
                say("client marked today's activity done (EHR sent activity.completed)")
            if kind == "adherence.summary":
                await publish(channel, topology, session(assignment, run), user_id)
                say("EHR announced an upcoming session")
            body = await wait_step(journey, kind, deadline)
            if body is None:
                say(f"MISSING: {kind} ({meaning}) not seen within {args.timeout:.0f}s")
                return 1
            say(f"{kind}: {meaning}{detail(kind, body)}")
        extra = [k for k in journey.seen if k not in dict(STEPS)]
        say(f"also seen: {', '.join(sorted(extra)) or 'nothing else'}")
        say("the reminder travelled end to end")
        return 0


def completion(assignment: ActivityAssigned, run: str) -> ActivityCompleted:
    return ActivityCompleted(
        **new_envelope(run),
        clinic_id=CLINIC,
        assignment_id=assignment.assignment_id,
        client_ref=assignment.client_ref,
        occurrence_date=assignment.schedule.start,
        completed_at=datetime.now(UTC),
        rating=8,
    )


def session(assignment: ActivityAssigned, run: str) -> SessionUpcoming:
    now = datetime.now(UTC)
    return SessionUpcoming(
        **new_envelope(run),
        clinic_id=CLINIC,
        session_id=f"sess-{run}",
        client_ref=assignment.client_ref,
        therapist_ref=assignment.therapist_ref,
        starts_at=now + timedelta(hours=1),
        previous_session_at=now - timedelta(days=7),
    )


def detail(kind: str, body: dict[str, Any]) -> str:
    if kind == "reminder.due":
        return f" (reminder {body.get('reminder_id')}, planned for {body.get('planned_for')})"
    if kind == "notification.dispatched":
        return f" (channel {body.get('channel')}, provider {body.get('provider')})"
    if kind == "adherence.summary":
        return f" (done {body.get('done')} of {body.get('due')} due)"
    return ""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--lead", type=float, default=8.0, help="seconds until the reminder")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument(
        "--user-id",
        action="store_true",
        help="set the user_id property to the URL's user (when the services check *_TENANTS)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
