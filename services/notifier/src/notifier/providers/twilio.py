"""SMS through the Twilio Messages REST API (aiohttp; base URL configurable).

aiohttp rather than httpx: the notifier makes one provider call per reminder, and
httpx's per-request machinery (httpcore, anyio, a failing ``import sniffio`` on every
call) cost more CPU than the rest of the send together.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from notifier.callback_url import message_ref, status_callback_url
from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after
from notifier.providers.transport import Session, json_body, transport_error
from shared.tracing import with_traceparent

# The recipient replied STOP to this sender: Twilio refuses until they reply START.
UNSUBSCRIBED_CODE = "21610"


class TwilioProvider:
    name = "twilio"

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback: str,
        timeout: float,
        connect_timeout: float = 3.0,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.status_callback = status_callback
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        auth = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._session = Session(auth, timeout=timeout, connect=connect_timeout)

    @property
    def rate_key(self) -> str:
        return f"twilio:{self.account_sid}:{self.from_number}"

    def rate_key_for(self, message: OutboundMessage) -> str:
        return f"twilio:{self.account_sid}:{_sender(message) or self.from_number}"

    def callback_url(self, message: OutboundMessage) -> str:
        return status_callback_url(self.status_callback, message_ref(message))

    def form(self, message: OutboundMessage) -> dict[str, str]:
        form = {
            "To": message.to_phone or "",
            "Body": message.text,
            # The callback names the reminder, and continues this send's trace (when
            # tracing is on): Twilio sends back none of our headers, only the URL, signed
            # with its query.
            "StatusCallback": with_traceparent(self.callback_url(message)),
        }
        service = message.sender.sms_messaging_service_sid
        if service:  # Twilio picks the number from the clinic's Messaging Service
            form["MessagingServiceSid"] = service
        else:
            form["From"] = message.sender.sms_from or self.from_number
        return form

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_phone:
            raise ProviderError("no phone number", permanent=True)
        try:
            async with self._session.client().post(self._url, data=self.form(message)) as response:
                body = await json_body(response)
                return _result(response.status, response.headers, body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(self.name, exc) from exc

    async def aclose(self) -> None:
        await self._session.aclose()


def _sender(message: OutboundMessage) -> str | None:
    return message.sender.sms_messaging_service_sid or message.sender.sms_from


def _result(status: int, headers: Mapping[str, str], body: dict[str, object]) -> SendResult:
    if status in (200, 201):
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            raise ProviderError("twilio answered without a message sid", permanent=False)
        return SendResult(sid)
    code = body.get("code")
    reason = f"twilio {status}" + (f" code {code}" if code else "")
    if status == 429 or status >= 500:
        retry = parse_retry_after(headers.get("Retry-After"))
        raise ProviderError(reason, permanent=False, retry_after=retry, unsent=True)
    if status in (401, 403):  # our credentials, not the recipient: not a channel failover
        raise ProviderError(reason, permanent=False, unsent=True)
    raise ProviderError(reason, permanent=True, code=str(code) if code else None)
