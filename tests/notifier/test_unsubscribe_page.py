"""The email unsubscribe page in the client's language: on plain values (every language;
the client's language, else the browser's, else the clinic's, else English), and through
the notifier's HTTP routes against the real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from notifier.unsubscribe import UnsubscribeClaims, done_page, page_language_of, question_page
from shared.contracts import ClientPreferencesChanged, ClinicPolicy, Messaging, new_envelope
from shared.messages.catalogue import LANGUAGES
from shared.messages.pages import page_texts
from tests.notifier.conftest import Harness, reminder
from tests.support.infra import wait_for

CLINIC = f"clinic-{uuid.uuid4()}"
CLIENT = str(uuid.uuid4())


def _plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_asks_then_confirms_in_every_language(language: str) -> None:
    t = page_texts(language)
    asked = question_page(language)
    assert f'<html lang="{language}">' in asked
    assert f"<h1>{_plain(t.unsubscribe_question)}</h1>" in asked
    assert _plain(t.unsubscribe_text) in asked
    assert f'<button type="submit">{_plain(t.unsubscribe_button)}</button>' in asked
    assert '<form method="post">' in asked  # posts back to the link, as one-click does
    assert 'name="List-Unsubscribe" value="One-Click"' in asked
    done = done_page(language)
    assert f"<h1>{_plain(t.unsubscribed.title)}</h1>" in done
    assert all(_plain(line) in done for line in t.unsubscribed.lines)
    for html in (asked, done):
        assert "<script" not in html
        assert "http" not in html


class Directory:
    def __init__(self, client: str | None, clinic: str | None) -> None:
        self.client, self.clinic = client, clinic

    async def preferences(self, clinic_id: str, client_ref: str) -> ClientPreferencesChanged | None:
        if (clinic_id, client_ref) != (CLINIC, CLIENT):
            return None
        return ClientPreferencesChanged(
            **new_envelope(),
            clinic_id=clinic_id,
            client_ref=client_ref,
            version=1,
            timezone="America/Mexico_City",
            language=self.client,
        )

    async def policy(self, clinic_id: str, policy_id: str) -> ClinicPolicy | None:
        if self.clinic is None or clinic_id != CLINIC:
            return None
        messaging = Messaging(clinic_name="Clínica Norte", default_language=self.clinic)
        return ClinicPolicy(policy_id="pol-1", version=1, messaging=messaging)


async def test_the_client_s_language_then_the_browser_s_then_the_clinic_s() -> None:
    claims = UnsubscribeClaims(CLINIC, CLIENT, "email")
    other = UnsubscribeClaims(CLINIC, "an-erased-client", "email")
    assert await page_language_of(Directory("es-MX", "fr"), claims, "pt-BR,pt") == "es"
    assert await page_language_of(Directory(None, "fr"), claims, "pt-BR,pt") == "pt"
    assert await page_language_of(Directory("de", "fr"), claims, "de-DE") == "fr"
    assert await page_language_of(Directory(None, None), claims, None) == "en"
    assert await page_language_of(Directory("es", "fr"), other, None) == "fr"
    assert await page_language_of(Directory("es", "fr"), None, "pt") == "pt"


@pytest.mark.integration
async def test_the_link_opens_in_the_client_s_language(harness: Harness) -> None:
    await harness.clinic(default_language="fr")
    await harness.client("cl-es", language="es-MX", consent={"email": True}, channels=("email",))
    await harness.client("cl-none", consent={"email": True}, channels=("email",))
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-es"))
    await harness.publish(reminder("cl-none"))
    await wait_for(lambda: len(harness.smtp.received) == 2)
    links = {
        str(m.message["List-Unsubscribe"]).strip("<>")
        for m in harness.smtp.received  # which is which: the page says it
    }
    english = {"Accept-Language": "en-US,en;q=0.9"}
    async with httpx.AsyncClient() as browser:
        pages = {link: await browser.get(link, headers=english) for link in links}
        [spanish] = [link for link, page in pages.items() if 'lang="es"' in page.text]
        assert "¿Dejar de recibir correos de recordatorio?" in pages[spanish].text
        [unknown] = links - {spanish}  # no language of their own: the browser's
        assert '<html lang="en">' in pages[unknown].text
        assert '<html lang="fr">' in (await browser.get(unknown)).text  # else the clinic's
        done = await browser.post(spanish, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert done.headers["content-type"].startswith("text/html")
        assert "Ya no recibirás estos correos." in done.text
    consent = await harness.wait_event("consent.changed", client_ref="cl-es")
    assert (consent["channel"], consent["opted_out"]) == ("email", True)
