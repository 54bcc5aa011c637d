"""A client's erasure across the three services, as processes on the real RabbitMQ and
Redis with the local Twilio-shaped API.

Two clinics know a client by the same ref and give it the same assignment id. Both get
a reminder by SMS (with its status callback) and record a completion. Then clinic 1's
EHR sends ``client.erased``: afterwards no key and no value under the test's namespace
names clinic 1's client (clinic 2's is intact), the EHR hears
``client.erasure.completed`` with counts per service, the client's old done link,
unsubscribe link and SMS replies change nothing, a repeat is idempotent (the console's
erase action, ops only, completes it again with zero counts) and a new assignment for
the same ref works from scratch."""

from __future__ import annotations

import asyncio
import json
import re
import time as clock
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from redis.asyncio import Redis

from notifier.unsubscribe import UnsubscribeClaims, sign_unsubscribe
from shared.broker import delete_topology, publish_event
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityCompleted,
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientErased,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Event,
    Frequency,
    QuietHours,
    RuleOverride,
    Schedule,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.service import redis_text
from shared.topology import Exchange, Topology
from tests.fakes.twilio_api import FakeTwilio
from tests.support.infra import AMQP_URL, REDIS_URL, delete_redis_namespace, unique_namespace
from tests.support.services import free_port
from tests.support.system import running_system

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

CLINIC_1 = "clinic-northside-family-counselling-and-wellbeing-centre-9f1c2d3e"
CLINIC_2 = "clinic-lakeside-community-psychotherapy-associates-4b7a8c9d"
OPS = "ops-token-erasure-" + "o" * 24
CLINIC_TOKEN = "clinic-token-erasure-" + "c" * 24
SECRET = "link-secret-erasure-" + "k" * 32
DONE_LINK = re.compile(r"https?://\S+/d/[A-Za-z0-9_-]{21}")
PHONES = {CLINIC_1: "+15551230101", CLINIC_2: "+15551230102"}
EMAILS = {CLINIC_1: "river.client@example.org", CLINIC_2: "lake.client@example.org"}
POLICY = "erasure-adult"


class Ehr:
    """Publishes to the inbound exchange, hears everything on the outbound one."""

    def __init__(self, channel: AbstractChannel, topology: Topology) -> None:
        self.channel, self.topology = channel, topology
        self.outbound: list[dict[str, Any]] = []

    async def listen(self) -> None:
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self.topology.exchange(Exchange.OUTBOUND), routing_key="#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process():
                self.outbound.append(json.loads(message.body))

        await queue.consume(on_message)

    async def publish(self, event: Event) -> None:
        await publish_event(self.channel, self.topology, event)

    def seen(self, event_type: str, clinic_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.outbound
            if e["type"] == event_type and clinic_id in (None, e["clinic_id"])
        ]


async def until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_a_client_is_erased_everywhere_and_only_in_its_clinic(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    namespace = unique_namespace("erasure")
    topology = Topology(namespace=namespace)
    notifier_port, tracker_port = free_port(), free_port()
    env = {
        "scheduler": {},
        "notifier": {
            "NOTIFIER_HTTP_PORT": str(notifier_port),
            "NOTIFIER_WEBHOOK_BASE_URL": f"http://127.0.0.1:{notifier_port}",
            "NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{tracker_port}",
            "NOTIFIER_LINK_SECRETS": SECRET,
            "NOTIFIER_SMS_PROVIDER": "twilio",
            "NOTIFIER_TWILIO_BASE_URL": twilio.base_url,
            "NOTIFIER_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "NOTIFIER_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "NOTIFIER_SMS_RATE_PER_SECOND": "50",
        },
        "tracker": {
            "TRACKER_HTTP_PORT": str(tracker_port),
            "TRACKER_LINK_SECRETS": SECRET,
            "TRACKER_OPS_TOKEN": OPS,
            "TRACKER_CLINIC_TOKENS": json.dumps({CLINIC_TOKEN: CLINIC_1}),
        },
    }
    connection = await aio_pika.connect_robust(AMQP_URL)
    redis = Redis.from_url(REDIS_URL)
    try:
        with running_system(namespace, AMQP_URL, REDIS_URL, tmp_path, env=env) as system:
            ehr = Ehr(await connection.channel(), topology)
            await ehr.listen()
            journey = Journey(ehr, twilio, redis, namespace, system.procs)
            await journey.run()
            assert system.all_alive(), system.restarts()
    finally:
        await redis.aclose()
        await connection.close()
        await delete_topology(AMQP_URL, topology)
        await delete_redis_namespace(REDIS_URL, namespace)


class Journey:
    def __init__(
        self, ehr: Ehr, twilio: FakeTwilio, redis: Redis, namespace: str, procs: dict[str, Any]
    ) -> None:
        self.ehr, self.twilio, self.redis, self.namespace = ehr, twilio, redis, namespace
        self.tracker = procs["tracker"].base_url
        self.notifier = procs["notifier"].base_url
        self.client = str(uuid.uuid4())  # the same ref in both clinics
        self.assignment = str(uuid.uuid4())  # and the same assignment id
        now = datetime.now(UTC)
        self.slots: dict[str, time] = {}
        self.quiet = QuietHours(start=time((now.hour + 8) % 24), end=time((now.hour + 9) % 24))

    async def run(self) -> None:
        for clinic in (CLINIC_1, CLINIC_2):
            policy = example_policy().model_copy(
                update={"policy_id": POLICY, "quiet_hours": self.quiet}
            )
            await self.ehr.publish(
                ClinicPolicyChanged(**new_envelope(), clinic_id=clinic, policy=policy)
            )
        links = await self.remind_both()
        await self.complete_both()
        await asyncio.sleep(2.0)  # the scheduler's plans after the completions are announced

        # Clinic 1's EHR erases the client.
        erasure = ClientErased(**new_envelope(), clinic_id=CLINIC_1, client_ref=self.client)
        await self.ehr.publish(erasure)
        done = await self.completed(erasure.event_id)
        assert done["client_ref"] == self.client
        assert done["correlation_id"] == erasure.correlation_id
        counts = done["counts"]
        assert set(counts) == {"scheduler", "notifier", "tracker"}
        assert counts["scheduler"]["client_state"] == 1
        assert counts["scheduler"]["assignments"] == 1
        assert counts["scheduler"]["policy_memberships"] == 1
        assert counts["notifier"]["contacts"] == 1
        assert counts["notifier"]["assignments"] == 1  # else it would stop a new one
        assert counts["notifier"]["number_links"] >= 2  # the owner and the last reminder
        assert counts["notifier"]["email_links"] >= 1  # the address's owner
        assert counts["tracker"]["assignments"] == 1
        assert counts["tracker"]["reminders"] >= 1
        assert counts["tracker"]["links"] >= 1
        assert counts["tracker"]["timeline"] == 1
        assert counts["tracker"]["completions"] == 1
        await self.assert_nothing_names_clinic_1s_client()
        await self.assert_clinic_2_intact()

        # Old tokens and replies change nothing, and leave nothing behind.
        await self.old_tokens_do_nothing(links[CLINIC_1])
        await self.assert_nothing_names_clinic_1s_client()

        # A repeat of the same event announces nothing more; the console's (a new event)
        # completes again with zero counts.
        await self.ehr.publish(erasure)
        again = await self.console_erase()
        repeat = await self.completed(again)
        assert all(n == 0 for per in repeat["counts"].values() for n in per.values()), repeat
        assert len(self.completions(erasure.event_id)) == 1
        await self.assert_nothing_names_clinic_1s_client()

        # A new assignment for the same ref (and id) starts from scratch: nothing left
        # says its day is done. Its reminder is at another minute than the first one (the
        # same minute would be the same reminder, which the notifier's ledger sends once).
        before = len(self.sms_to(PHONES[CLINIC_1]))
        await self.assign(CLINIC_1, seconds=20, not_at=self.slots[CLINIC_1])
        await until(
            lambda: len(self.sms_to(PHONES[CLINIC_1])) > before, 120, "a reminder after erasure"
        )

    # -- steps ------------------------------------------------------------------------

    async def remind_both(self) -> dict[str, str]:
        for clinic in (CLINIC_1, CLINIC_2):
            await self.assign(clinic, seconds=20)
        for clinic in (CLINIC_1, CLINIC_2):
            await until(lambda c=clinic: self.sms_to(PHONES[c]), 60, f"the SMS of {clinic}")
        links = {}
        for clinic in (CLINIC_1, CLINIC_2):
            sms = self.sms_to(PHONES[clinic])[0]
            assert await self.twilio.callback(sms, "delivered") in (200, 204)
            [links[clinic]] = DONE_LINK.findall(sms.body)
        for clinic in (CLINIC_1, CLINIC_2):
            await until(
                lambda c=clinic: self.ehr.seen("reminder.delivered", c), 30, "reminder.delivered"
            )
        return links

    async def assign(self, clinic: str, seconds: int, not_at: time | None = None) -> None:
        now = datetime.now(UTC)
        slot = (now + timedelta(seconds=seconds)).time().replace(microsecond=0)
        if not_at is not None and slot.replace(second=0) == not_at.replace(second=0):
            slot = (now + timedelta(seconds=seconds + 60)).time().replace(microsecond=0)
        self.slots[clinic] = slot
        if slot < now.time():
            pytest.skip("too close to midnight UTC for a same-day reminder")
        await self.ehr.publish(
            ClientPreferencesChanged(
                **new_envelope(),
                clinic_id=clinic,
                client_ref=self.client,
                version=1,
                timezone="UTC",
                channels=(Channel.SMS,),
                contacts=ContactPoints(sms=PHONES[clinic], email=EMAILS[clinic]),
                consent=ChannelConsent(sms=True),
                quiet_hours=self.quiet,
            )
        )
        await asyncio.sleep(1.0)  # the preferences land before the assignment
        await self.ehr.publish(
            ActivityAssigned(
                **new_envelope(),
                clinic_id=clinic,
                assignment_id=self.assignment,
                client_ref=self.client,
                therapist_ref="therapist-" + str(uuid.uuid4()),
                activity=Activity(kind=ActivityKind.DIARY_CARD, title="Diary card"),
                schedule=Schedule(
                    timezone="UTC",
                    start=now.date(),
                    end=now.date() + timedelta(days=6),
                    frequency=Frequency.DAILY,
                    times_of_day=(slot,),
                ),
                policy_id=POLICY,
                overrides=RuleOverride(spread_minutes=0, nudges=()),
            )
        )

    async def complete_both(self) -> None:
        for clinic in (CLINIC_1, CLINIC_2):
            await self.ehr.publish(
                ActivityCompleted(
                    **new_envelope(),
                    clinic_id=clinic,
                    assignment_id=self.assignment,
                    client_ref=self.client,
                    occurrence_date=datetime.now(UTC).date(),
                    completed_at=datetime.now(UTC),
                    rating=7,
                )
            )
        for clinic in (CLINIC_1, CLINIC_2):
            await until(
                lambda c=clinic: self.ehr.seen("completion.recorded", c), 30, "the completions"
            )

    async def old_tokens_do_nothing(self, done_link: str) -> None:
        completions = len(self.ehr.seen("completion.recorded", CLINIC_1))
        async with httpx.AsyncClient(timeout=5) as browser:
            assert (await browser.get(done_link)).status_code == 404
            assert (await browser.post(done_link)).status_code == 404
            claims = UnsubscribeClaims(CLINIC_1, self.client, Channel.EMAIL.value)
            token = sign_unsubscribe([SECRET], claims)
            unsubscribed = await browser.post(f"{self.notifier}/unsubscribe/{token}")
            assert unsubscribed.status_code == 200
        status, reply = await self.twilio.inbound(
            f"{self.notifier}/webhooks/twilio/inbound", PHONES[CLINIC_1], "DONE"
        )
        assert status == 200
        assert "could not find" in reply.lower()
        await asyncio.sleep(2.0)
        assert len(self.ehr.seen("completion.recorded", CLINIC_1)) == completions

    async def console_erase(self) -> uuid.UUID:
        path = f"/api/console/clients/{self.client}/erase"
        async with httpx.AsyncClient(base_url=self.tracker, timeout=5) as http:
            refused = await http.post(
                path,
                params={"clinic": CLINIC_1},
                headers={"Authorization": f"Bearer {CLINIC_TOKEN}"},
            )
            assert refused.status_code == 403, refused.text
            accepted = await http.post(
                path, params={"clinic": CLINIC_1}, headers={"Authorization": f"Bearer {OPS}"}
            )
            assert accepted.status_code == 202, accepted.text
        return uuid.UUID(accepted.json()["event_id"])

    # -- what the EHR and Redis show ---------------------------------------------------------

    def sms_to(self, phone: str) -> list[Any]:
        return [m for m in self.twilio.messages if m.to == phone]

    def completions(self, erasure_id: uuid.UUID) -> list[dict[str, Any]]:
        return [
            e
            for e in self.ehr.seen("client.erasure.completed", CLINIC_1)
            if e["erasure_event_id"] == str(erasure_id)
        ]

    async def completed(self, erasure_id: uuid.UUID) -> dict[str, Any]:
        found = await until(lambda: self.completions(erasure_id), 30, "client.erasure.completed")
        return dict(found[0])

    async def assert_nothing_names_clinic_1s_client(self) -> None:
        named = [
            (key, item)
            async for key, item in self.everything()
            if CLINIC_1 in key + item and self.client in key + item
        ]
        assert named == []

    async def assert_clinic_2_intact(self) -> None:
        kept = [
            (key, item)
            async for key, item in self.everything()
            if CLINIC_2 in key + item and self.client in key + item
        ]
        services = {key.split(":")[2] for key, _ in kept}
        assert services == {"scheduler", "notifier", "tracker"}, kept

    async def everything(self) -> AsyncIterator[tuple[str, str]]:
        """Every key under the namespace with each item it holds (a string's value, a
        hash's field and value, a set's or sorted set's member, a list's item, a stream's
        entry), as text."""
        r: Any = self.redis
        async for raw in r.scan_iter(match=f"{self.namespace}:*", count=1000):
            key = redis_text(raw)
            kind = redis_text(await r.type(key))
            items: list[Any] = []
            if kind == "string":
                items = [await r.get(key)]
            elif kind == "hash":
                pairs = (await r.hgetall(key)).items()
                items = [f"{redis_text(f)}={redis_text(v)}" for f, v in pairs]
            elif kind == "set":
                items = list(await r.smembers(key))
            elif kind == "zset":
                items = list(await r.zrange(key, 0, -1))
            elif kind == "list":
                items = list(await r.lrange(key, 0, -1))
            elif kind == "stream":
                items = [json.dumps(_text(f)) for _, f in await r.xrange(key)]
            yield key, ""
            for item in items:
                yield key, redis_text(item) if item is not None else ""


def _text(fields: dict[Any, Any]) -> dict[str, str]:
    return {redis_text(k): redis_text(v) for k, v in fields.items()}
