"""What the HTTP providers (Twilio, Vonage) share: one pooled aiohttp session each, with
a short connect budget, and which transport errors certainly left the message unsent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from notifier.providers.base import ProviderError


class Session:
    """Made on first use: a session belongs to the event loop that runs the sends."""

    def __init__(self, headers: Mapping[str, str], *, timeout: float, connect: float) -> None:
        self._headers = dict(headers)
        # The connect budget is short: a provider that does not take the connection in
        # time never saw the message, so another provider can send it at once.
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(connect, timeout))
        self._session: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def transport_error(provider: str, exc: Exception) -> ProviderError:
    """A call that got no answer. Unsent only when the connection never stood (refused,
    unresolvable, connect timeout); a timeout or disconnect after the request went out
    may have been accepted, so it is retried on the same provider, never failed over."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return ProviderError(
            f"{provider} unreachable: {type(exc).__name__}", permanent=False, unsent=True
        )
    if isinstance(exc, TimeoutError):
        return ProviderError(f"{provider} timed out", permanent=False)
    return ProviderError(f"{provider} unreachable: {type(exc).__name__}", permanent=False)


async def json_body(response: aiohttp.ClientResponse) -> dict[str, object]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError, asyncio.IncompleteReadError):
        return {}
    return data if isinstance(data, dict) else {}
