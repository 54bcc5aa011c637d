"""SMS through the Twilio Messages REST API (aiohttp; base URL configurable).

aiohttp rather than httpx: the notifier makes one provider call per reminder, and
httpx's per-request machinery (httpcore, anyio, a failing ``import sniffio`` on every
call) cost more CPU than the rest of the send together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from notifier.callback_url import CallbackRef, status_callback_url
from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after
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
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.status_callback = status_callback
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def rate_key(self) -> str:
        return f"twilio:{self.account_sid}:{self.from_number}"

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that runs the sends.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    def callback_url(self, message: OutboundMessage) -> str:
        ref = CallbackRef(message.clinic_id, message.reminder_id, message.correlation_id)
        return status_callback_url(self.status_callback, ref)

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_phone:
            raise ProviderError("no phone number", permanent=True)
        form = {
            "To": message.to_phone,
            "From": self.from_number,
            "Body": message.text,
            # The callback names the reminder, and continues this send's trace (when
            # tracing is on): Twilio sends back none of our headers, only the URL, signed
            # with its query.
            "StatusCallback": with_traceparent(self.callback_url(message)),
        }
        try:
            async with self._client().post(self._url, data=form) as response:
                body = await _json(response)
                return _result(response.status, response.headers, body)
        except TimeoutError as exc:
            raise ProviderError("twilio timed out", permanent=False) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"twilio unreachable: {type(exc).__name__}", permanent=False
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


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
        raise ProviderError(reason, permanent=False, retry_after=retry)
    if status in (401, 403):  # our credentials, not the recipient: retry, don't fail over
        raise ProviderError(reason, permanent=False)
    raise ProviderError(reason, permanent=True, code=str(code) if code else None)


async def _json(response: aiohttp.ClientResponse) -> dict[str, object]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError, asyncio.IncompleteReadError):
        return {}
    return data if isinstance(data, dict) else {}
