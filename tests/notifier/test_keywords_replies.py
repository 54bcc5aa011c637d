"""Keyword replies and texts in the client's language, through the real webhook, RabbitMQ
and Redis: a Spanish client's reminder and DONE reply, a STOP word Twilio does not know
confirmed by us, and a number we know nothing about answered in its keyword's language."""

from __future__ import annotations

import asyncio
from html import unescape

import pytest

from shared.messages.replies import replies
from shared.messages.sms_text import to_gsm7
from tests.notifier.conftest import PHONE, Harness, reminder
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration


def message(body: str) -> str:
    return unescape(body.split("<Message>", 1)[1].split("</Message>", 1)[0])


async def test_a_spanish_client_reads_spanish_and_listo_marks_it_done(harness: Harness) -> None:
    await harness.clinic(clinic_name="Centro de Psicología Integral", default_language="en")
    await harness.client("cl-es", language="es-MX")
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-es"))
    await harness.wait_event("notification.dispatched", reminder_id="rem-cl-es-0")
    (sms,) = harness.twilio.messages
    assert sms.body.startswith("Centro de Psicologia Integral: ")  # GSM-7 stand-ins
    assert "¿Listo? Toca http" in sms.body
    assert sms.body.endswith(to_gsm7("Responde STOP para darte de baja."))  # the first text
    status, body = await harness.twilio.inbound(
        f"{harness.url}/webhooks/twilio/inbound", PHONE, "Listo"
    )
    assert status == 200
    assert message(body) == replies("es").done
    done = await harness.wait_event("completion.reported", client_ref="cl-es")
    assert done["reminder_id"] == "rem-cl-es-0"


async def test_a_stop_word_twilio_does_not_know_is_confirmed_by_us(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-parar")  # no language: the keyword's
    await asyncio.sleep(0.3)
    url = f"{harness.url}/webhooks/twilio/inbound"
    status, body = await harness.twilio.inbound(url, PHONE, "PARAR")
    assert status == 200
    assert message(body) == replies("es").stopped  # es and pt share it; es comes first
    consent = await harness.wait_event("consent.changed", client_ref="cl-parar")
    assert consent["opted_out"] is True
    _, body = await harness.twilio.inbound(url, PHONE, "voltar")
    assert message(body) == replies("pt").started
    await wait_for(lambda: len(harness.events("consent.changed", client_ref="cl-parar")) == 2)
    assert harness.events("consent.changed", client_ref="cl-parar")[1]["opted_out"] is False
    # Twilio confirms its own standard words: no second confirmation from us.
    _, body = await harness.twilio.inbound(url, PHONE, "STOP")
    assert "<Message>" not in body


async def test_an_unknown_number_is_answered_in_its_keyword_s_language(
    harness: Harness,
) -> None:
    url = f"{harness.url}/webhooks/twilio/inbound"
    stranger = "+5511987654321"
    _, body = await harness.twilio.inbound(url, stranger, "Feito")
    assert message(body) == replies("pt").done_unknown
    _, body = await harness.twilio.inbound(url, stranger, "aide")
    assert message(body) == replies("fr").help
    assert not harness.events("completion.reported")
