"""A local HTTP server speaking the Twilio Messages API shape.

It accepts ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with basic auth, records
messages, can be told to answer 503 / hang / refuse with a Twilio error code for a
while, and sends status callbacks signed exactly as Twilio signs them: base64 of
HMAC-SHA1(auth token, URL + each POST parameter name and value, sorted by name).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.local_http import LocalHttpServer


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SentSms:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str


@dataclass
class FakeTwilio:
    account_sid: str = "ACtest0000000000000000000000000000"
    auth_token: str = "test-auth-token"
    messages: list[SentSms] = field(default_factory=list)
    requests: int = 0
    # Behaviour: answer ``fail_status`` to the next ``fail_next`` requests, and to every
    # request before ``fail_until`` (monotonic; see ``fail_for``); ``hang_next`` requests
    # get no answer for ``hang_seconds``; numbers in ``invalid`` get 21211.
    fail_next: int = 0
    fail_until: float = 0.0
    fail_status: int = 503
    failed: int = 0
    retry_after: str | None = None
    hang_next: int = 0
    hang_seconds: float = 5.0
    invalid: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    auto_callbacks: tuple[str, ...] = ()
    _http: LocalHttpServer = field(default_factory=LocalHttpServer)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        await self._http.serve(app)

    async def stop(self) -> None:
        await self._http.stop()

    def fail_for(self, seconds: float) -> None:
        """An outage: every request in the next ``seconds`` is answered ``fail_status``."""
        self.fail_until = time.monotonic() + seconds

    def _failing(self) -> bool:
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return time.monotonic() < self.fail_until

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorised(request) or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if self.hang_next > 0:
            self.hang_next -= 1
            await asyncio.sleep(self.hang_seconds)
        if self._failing():
            self.failed += 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(
                {"code": 20500, "message": "Unavailable"}, status=self.fail_status, headers=headers
            )
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if to in self.invalid:
            return _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return _error(21610, "Attempt to send to unsubscribed recipient")
        sid = f"SM{next(self._ids):032d}"
        sms = SentSms(sid, to, str(form.get("From", "")), body, str(form.get("StatusCallback", "")))
        self.messages.append(sms)
        for status in self.auto_callbacks:
            asyncio.get_running_loop().create_task(self.callback(sms, status))
        return web.json_response(
            {"sid": sid, "status": "queued", "to": to, "body": body}, status=201
        )

    async def callback(
        self, sms: SentSms, status: str, error_code: str | None = None, forge: bool = False
    ) -> int:
        """POST a status callback as Twilio does; returns the HTTP status we got back."""
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": sms.sid,
            "SmsSid": sms.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sms.to,
            "From": sms.from_,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_signed(sms.status_callback, params, forge=forge)

    async def post_signed(self, url: str, params: dict[str, str], forge: bool = False) -> int:
        token = "not-the-token" if forge else self.auth_token
        headers = {"X-Twilio-Signature": twilio_signature(token, url, params)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=params, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def inbound(self, url: str, from_: str, body: str) -> tuple[int, str]:
        """An inbound SMS webhook, as Twilio posts it."""
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": f"SMin{next(self._ids):030d}",
            "From": from_,
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
        }
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=params, headers=headers) as response,
        ):
            return response.status, await response.text()


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": 400}, status=400)
