"""The console's "Erase this client" in headless Chromium: operations only, after a
confirmation; it publishes ``client.erased`` through the real RabbitMQ and the tracker
erases what it holds about that clinic's client (the other clinic's, same ref, stays)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Dialog, expect

from tests.support.infra import wait_for
from tests.tracker.browser import chromium, serving
from tests.tracker.conftest import OPS, Tracker, assigned

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CLIENT = "client-1"


async def found(tracker: Tracker, clinic: str) -> bool:
    url = f"/api/console/clients/{CLIENT}?clinic={clinic}"
    body: dict[str, Any] = (
        await tracker.http.get(url, headers={"Authorization": f"Bearer {OPS}"})
    ).json()
    return bool(body["found"])


async def test_ops_erases_a_clients_data_after_confirming(tracker: Tracker) -> None:
    for clinic in ("clinic-a", "clinic-b"):
        await tracker.publish(assigned(clinic=clinic, client=CLIENT))
    await wait_for(lambda: both_found(tracker), timeout=20)
    errors: list[str] = []
    async with serving(tracker.app) as base_url, chromium() as browser:
        page = await (await browser.new_context()).new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        asked: list[str] = []

        async def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await (dialog.dismiss() if len(asked) == 1 else dialog.accept())

        page.on("dialog", answer)
        await page.goto(f"{base_url}/console/clients?clinic=clinic-a&client={CLIENT}#token={OPS}")
        await expect(page.get_by_test_id("activities")).to_contain_text("asg-1")
        button = page.get_by_role("button", name="Erase this client")
        await button.click()  # dismissed: nothing happens
        await expect(page.locator("#erase-note")).to_have_text("")
        assert await found(tracker, "clinic-a")
        await button.click()  # confirmed
        await expect(page.locator("#erase-note")).to_contain_text("Erasure requested")
        assert "client-1 of clinic clinic-a" in asked[0]

        clinic_page = await (await browser.new_context()).new_page()
        await clinic_page.goto(f"{base_url}/console/clients?client={CLIENT}#token=token-clinic-b")
        await expect(clinic_page.get_by_test_id("activities")).to_contain_text("asg-1")
        await expect(clinic_page.locator("#erase")).to_be_hidden()  # operations only
    await wait_for(lambda: _not(found(tracker, "clinic-a")), timeout=20)
    assert await found(tracker, "clinic-b")
    assert errors == []


async def _not(value: Any) -> bool:
    return not await value


async def both_found(tracker: Tracker) -> bool:
    return await found(tracker, "clinic-a") and await found(tracker, "clinic-b")
