"""A local Web Push endpoint: accepts the encrypted POST (RFC 8030/8291) and answers 201,
or 410 for subscriptions marked gone; it can be told to refuse (429 or 5xx, with a
Retry-After) or to hang for a while."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import http_ece  # type: ignore[import-untyped]
from aiohttp import web

from tests.fakes.local_http import LocalHttpServer


@dataclass
class Push:
    subscription: str
    headers: dict[str, str]
    body: bytes

    def payload(self, private_key: Any, auth: str) -> dict[str, Any]:
        """What the browser's service worker gets: the body decrypted (RFC 8291) with the
        subscription's private key and auth secret."""
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
        plain = http_ece.decrypt(
            self.body, private_key=private_key, auth_secret=secret, version="aes128gcm"
        )
        data: dict[str, Any] = json.loads(plain)
        return data


@dataclass
class FakePushService:
    received: list[Push] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    # Behaviour: answer ``fail_status`` (with ``retry_after``, if set) to the next
    # ``fail_next`` requests; ``hang_next`` requests get no answer for ``hang_seconds``.
    fail_next: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    hang_next: int = 0
    hang_seconds: float = 5.0
    _http: LocalHttpServer = field(default_factory=LocalHttpServer)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def endpoint(self, subscription: str) -> str:
        return f"{self._http.base_url}/push/{subscription}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{sub}", self._push)
        await self._http.serve(app)

    async def stop(self) -> None:
        await self._http.stop()

    async def _push(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        if self.hang_next > 0:
            self.hang_next -= 1
            await asyncio.sleep(self.hang_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=self.fail_status, headers=headers, text="try later")
        if sub in self.gone:
            return web.Response(status=410, text="subscription expired")
        if "vapid" not in request.headers.get("Authorization", "").lower():
            return web.Response(status=401, text="missing VAPID authorization")
        body = await request.read()
        self.received.append(Push(sub, dict(request.headers), body))
        location = f"{self.endpoint(sub)}/messages/{next(self._ids)}"
        return web.Response(status=201, headers={"Location": location})
