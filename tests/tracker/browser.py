"""What a browser test needs: the app on a real HTTP port, and Debian's headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, async_playwright

from tests.support.services import ROOT, async_wait_healthy, free_port

CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: no first-run pages, no background updates or sync calling home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs (see ``running``); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await async_wait_healthy(port, timeout=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium package; Playwright's own browser download fails on these machines."""
    if not CHROMIUM.exists():
        # Not a skip: a browser test that silently skips proves nothing in CI.
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh or apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """A path under artifacts/ (gitignored) for files a test leaves to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
