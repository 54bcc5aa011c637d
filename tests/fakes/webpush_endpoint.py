"""A local Web Push endpoint: accepts the encrypted POST (RFC 8030/8291) and answers 201,
or 410 for subscriptions marked gone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Push:
    subscription: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakePushService:
    received: list[Push] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def endpoint(self, subscription: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{subscription}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{sub}", self._push)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _push(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        if sub in self.gone:
            return web.Response(status=410, text="subscription expired")
        if "vapid" not in request.headers.get("Authorization", "").lower():
            return web.Response(status=401, text="missing VAPID authorization")
        body = await request.read()
        self.received.append(Push(sub, dict(request.headers), body))
        location = f"{self.endpoint(sub)}/messages/{next(self._ids)}"
        return web.Response(status=201, headers={"Location": location})
