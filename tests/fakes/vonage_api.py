"""A local HTTP server speaking the Vonage Messages API v1 shape.

It accepts ``POST /v1/messages`` (JSON, basic auth with the API key and secret) and
answers 202 ``{"message_uuid"}``; errors are RFC 7807 problem documents. It records
messages, can be told to answer 503 for a while or refuse numbers as invalid (422), and
sends status and inbound webhooks signed as Vonage signs them: a JWT (HS256, the
signature secret) in ``Authorization: Bearer`` whose ``payload_hash`` is the SHA-256 of
the body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from tests.fakes.local_http import LocalHttpServer

PROBLEMS = "https://developer.vonage.com/api-errors/messages"


def vonage_jwt(secret: str, body: bytes, *, iat: float | None = None, api_key: str = "") -> str:
    claims = {
        "iat": int(time.time() if iat is None else iat),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": api_key,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class VonageSms:
    message_uuid: str
    to: str
    from_: str
    text: str
    client_ref: str
    webhook_url: str


@dataclass
class FakeVonage:
    api_key: str = "a1b2c3d4"
    api_secret: str = "test-vonage-api-secret"
    signature_secret: str = "test-vonage-signature-secret-0123456789"
    messages: list[VonageSms] = field(default_factory=list)
    requests: int = 0
    failed: int = 0
    fail_until: float = 0.0  # monotonic: every request before it is answered 503
    invalid: set[str] = field(default_factory=set)  # numbers (without '+') refused with 422
    _http: LocalHttpServer = field(default_factory=LocalHttpServer)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._create)
        await self._http.serve(app)

    async def stop(self) -> None:
        await self._http.stop()

    def fail_for(self, seconds: float) -> None:
        self.fail_until = time.monotonic() + seconds

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorised(request):
            return _problem(401, "unauthorized", "Invalid credentials")
        if time.monotonic() < self.fail_until:
            self.failed += 1
            return _problem(503, "service-unavailable", "Service Unavailable")
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "invalid-json", "Invalid JSON")
        missing = [k for k in ("message_type", "channel", "to", "from", "text") if not body.get(k)]
        if missing or body["channel"] != "sms" or body["message_type"] != "text":
            return _problem(422, "invalid-params", "Invalid params")
        if body["to"] in self.invalid or not str(body["to"]).isdigit():
            return _problem(422, "invalid-params", "Invalid params")
        sms = VonageSms(
            str(uuid.uuid4()),
            body["to"],
            body["from"],
            body["text"],
            str(body.get("client_ref", "")),
            str(body.get("webhook_url", "")),
        )
        self.messages.append(sms)
        return web.json_response({"message_uuid": sms.message_uuid}, status=202)

    async def callback(
        self,
        sms: VonageSms,
        status: str,
        *,
        error: dict[str, Any] | None = None,
        secret: str | None = None,
        tamper: bool = False,
    ) -> int:
        """POST a status webhook as Vonage does; returns the HTTP status we got back.
        ``secret``: sign with another secret; ``tamper``: sign one body, send another."""
        payload: dict[str, Any] = {
            "message_uuid": sms.message_uuid,
            "to": sms.to,
            "from": sms.from_,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "status": status,
            "channel": "sms",
            "client_ref": sms.client_ref,
        }
        if error:
            payload["error"] = error
        return await self.post_signed(sms.webhook_url, payload, secret=secret, tamper=tamper)

    async def inbound(self, url: str, from_: str, text: str) -> int:
        """An inbound SMS webhook, as Vonage posts it (``from_`` without the '+')."""
        payload = {
            "channel": "sms",
            "message_uuid": str(uuid.uuid4()),
            "to": "15005550007",
            "from": from_,
            "text": text,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        return await self.post_signed(url, payload)

    async def post_signed(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        secret: str | None = None,
        tamper: bool = False,
        iat: float | None = None,
    ) -> int:
        body = json.dumps(payload).encode()
        token = vonage_jwt(secret or self.signature_secret, body, iat=iat, api_key=self.api_key)
        sent = body.replace(b'"status": "', b'"status": "x') if tamper else body
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=sent, headers=headers) as response,
        ):
            await response.read()
            return response.status


def _problem(status: int, kind: str, title: str) -> web.Response:
    problem = {"type": f"{PROBLEMS}#{kind}", "title": title, "detail": title}
    return web.json_response(problem, status=status, content_type="application/problem+json")
