"""End to end, a digest: three activities of one client at the same time become one SMS
naming the count (the three services as real processes, the real RabbitMQ and Redis, the
local Twilio-shaped API). Its delivery callback reaches the EHR for each activity; its one
link opens a page listing the three, and one button records that activity only."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aio_pika
import httpx
import pytest

from shared.broker import delete_topology
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Frequency,
    QuietHours,
    RuleOverride,
    Schedule,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.topology import Topology
from tests.e2e.test_journey import Ehr, fakes, local_slot, until
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_api import FakeTwilio
from tests.support.infra import AMQP_URL, REDIS_URL, delete_redis_namespace, unique_namespace
from tests.support.services import free_port
from tests.support.system import running_system

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]
__all__ = ["fakes"]  # the fixture, shared with the journey

CLINIC = "westbrook-community-psychotherapy-and-counselling-centre"
SECRET = "link-secret-digest-e2e-" + "k" * 32
DIGEST_LINK = re.compile(r"https?://\S+/g/[A-Za-z0-9_-]{21}")
PHONE = "+15551230002"
TITLES = ("Diary card: urges and skills", "Breathing exercise", "Thought record")


async def test_three_activities_at_nine_go_as_one_message_with_one_page(
    tmp_path: Path, fakes: tuple[FakeTwilio, FakeSmtp]
) -> None:
    twilio, smtp = fakes
    namespace = unique_namespace("e2e-digest")
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
            "NOTIFIER_EMAIL_PROVIDER": "smtp",
            "NOTIFIER_SMTP_PORT": str(smtp.port),
        },
        "tracker": {"TRACKER_HTTP_PORT": str(tracker_port), "TRACKER_LINK_SECRETS": SECRET},
    }
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        with running_system(namespace, AMQP_URL, REDIS_URL, tmp_path, env=env) as system:
            ehr = Ehr(await connection.channel(), topology)
            await ehr.listen()
            await digest_journey(ehr, twilio, system.procs["tracker"].base_url)
            assert system.all_alive(), system.restarts()
    finally:
        await connection.close()
        await delete_topology(AMQP_URL, topology)
        await delete_redis_namespace(REDIS_URL, namespace)


async def digest_journey(ehr: Ehr, twilio: FakeTwilio, tracker: str) -> None:
    now = datetime.now(UTC)
    quiet = QuietHours(start=time((now.hour + 8) % 24), end=time((now.hour + 9) % 24))
    policy = example_policy().model_copy(update={"policy_id": "e2e", "quiet_hours": quiet})
    at = local_slot(now, 20)
    if at < now.time():
        pytest.skip("too close to midnight UTC")
    client = str(uuid.uuid4())
    await ehr.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=CLINIC, policy=policy))
    await ehr.publish(
        ClientPreferencesChanged(
            **new_envelope(),
            clinic_id=CLINIC,
            client_ref=client,
            version=1,
            timezone="UTC",
            channels=(Channel.SMS,),
            contacts=ContactPoints(sms=PHONE),
            consent=ChannelConsent(sms=True),
            quiet_hours=quiet,
        )
    )
    await asyncio.sleep(1.0)
    assignments = [
        ActivityAssigned(
            **new_envelope(),
            clinic_id=CLINIC,
            assignment_id=str(uuid.uuid4()),
            client_ref=client,
            therapist_ref="therapist-e2e",
            activity=Activity(kind=ActivityKind.OTHER, title=title),
            schedule=Schedule(
                timezone="UTC",
                start=now.date(),
                end=now.date() + timedelta(days=6),
                frequency=Frequency.DAILY,
                times_of_day=(at,),
            ),
            policy_id="e2e",
            overrides=RuleOverride(spread_minutes=0),
        )
        for title in TITLES
    ]
    for assignment in assignments:
        await ehr.publish(assignment)
    ids = {a.assignment_id for a in assignments}

    # 1. One SMS for the three, naming the count, with one link (to the digest's page).
    await until(lambda: twilio.messages, 60, "the digest SMS at the Twilio API")
    await asyncio.sleep(3.0)
    assert len(twilio.messages) == 1, [m.body for m in twilio.messages]
    sms = twilio.messages[0]
    assert re.search(r"\b3\b", sms.body.split("http")[0]), sms.body
    assert not any(title.split(":")[0] in sms.body for title in TITLES)
    [link] = DIGEST_LINK.findall(sms.body)
    assert link.startswith(tracker + "/g/")

    # 2. The callback names the message's first reminder; the EHR hears of all three.
    assert await twilio.callback(sms, "delivered") in (200, 204)

    def delivered() -> bool:
        return {e["assignment_id"] for e in ehr.seen("reminder.delivered")} == ids

    await until(delivered, 30, "reminder.delivered for each activity")

    # 3. The page lists the three (unnamed: the clinic does not allow details), each with
    # its own button; one tap records that activity only.
    async with httpx.AsyncClient(timeout=5) as browser:
        page = await browser.get(link)
        assert page.status_code == 200, page.text
        assert page.text.count("<button") == 3
        assert not any(title in page.text for title in TITLES)
        await asyncio.sleep(1.0)
        assert not ehr.seen("completion.recorded")  # opening it records nothing
        done = await browser.post(link + "?item=1")
        assert done.status_code == 200
        assert done.text.count("<button") == 2
    recorded = await until(lambda: ehr.seen("completion.recorded"), 30, "completion.recorded")
    await asyncio.sleep(1.0)
    assert len(ehr.seen("completion.recorded")) == 1
    assert recorded[0]["assignment_id"] in ids
    assert recorded[0]["source"] == "link"
