"""SMS through the Vonage Messages API v1 (aiohttp; base URL configurable).

``POST {base}/v1/messages`` with a JSON body and basic auth (API key and secret); 202
``{"message_uuid"}`` when accepted. Errors are RFC 7807 problem documents: 4xx about the
recipient are permanent, 429 and 5xx transient; 401/402/403 are our account's
(credentials, balance), not the recipient's, so they are transient too and another
provider may send meanwhile. Vonage numbers go without the leading ``+``.

``reply`` sends an answer to an inbound keyword (``vonage_replies.py``): no reminder, so its
statuses come back to a webhook URL marked ``reply=1`` and are not announced.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from notifier.callback_url import message_ref, status_callback_url
from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after
from notifier.providers.transport import Session, json_body, transport_error
from shared.tracing import with_traceparent

MAX_CLIENT_REF = 100  # Vonage's limit; the webhook URL names the reminder anyway
REPLY_PARAM = "reply"  # in a reply's status URL: a status about no reminder
_ACCOUNT_STATUSES = (401, 402, 403)


class VonageProvider:
    name = "vonage"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_secret: str,
        from_number: str,
        status_callback: str,
        timeout: float,
        connect_timeout: float = 3.0,
    ) -> None:
        self.api_key = api_key
        self.from_number = from_number
        self.status_callback = status_callback
        self._url = f"{base_url.rstrip('/')}/v1/messages"
        auth = {"Authorization": aiohttp.encode_basic_auth(api_key, api_secret)}
        self._session = Session(auth, timeout=timeout, connect=connect_timeout)

    @property
    def rate_key(self) -> str:
        return f"vonage:{self.api_key}:{self.from_number}"

    def rate_key_for(self, message: OutboundMessage) -> str:
        return f"vonage:{self.api_key}:{message.sender.sms_from or self.from_number}"

    def body(self, message: OutboundMessage) -> dict[str, str]:
        body = {
            "message_type": "text",
            "channel": "sms",
            "to": _digits(message.to_phone or ""),
            "from": _digits(message.sender.sms_from or self.from_number),
            "text": message.text,
            # Per message, like Twilio's StatusCallback: the status names its reminder.
            "webhook_url": with_traceparent(
                status_callback_url(self.status_callback, message_ref(message))
            ),
        }
        if len(message.reminder_id) <= MAX_CLIENT_REF:
            body["client_ref"] = message.reminder_id
        return body

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_phone:
            raise ProviderError("no phone number", permanent=True)
        return await self._post(self.body(message))

    async def reply(self, to_phone: str, from_number: str, text: str, ref: str) -> SendResult:
        """An answer to an inbound message, from the number it was sent to. ``ref`` (the
        inbound message's id) comes back as ``client_ref`` in its statuses."""
        separator = "&" if "?" in self.status_callback else "?"
        return await self._post(
            {
                "message_type": "text",
                "channel": "sms",
                "to": _digits(to_phone),
                "from": _digits(from_number or self.from_number),
                "text": text,
                "client_ref": ref[:MAX_CLIENT_REF],
                "webhook_url": f"{self.status_callback}{separator}{REPLY_PARAM}=1",
            }
        )

    async def _post(self, body: dict[str, str]) -> SendResult:
        try:
            async with self._session.client().post(self._url, json=body) as response:
                return _result(response.status, response.headers, await json_body(response))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(self.name, exc) from exc

    async def aclose(self) -> None:
        await self._session.aclose()


def _digits(number: str) -> str:
    """Vonage takes E.164 without its ``+`` (an alphanumeric sender stays as it is)."""
    return number[1:] if number.startswith("+") else number


def problem_code(kind: object) -> str | None:
    """A problem type's last part: ``.../messages-olympus#1250`` is ``1250``."""
    if not isinstance(kind, str) or not kind:
        return None
    return kind.rsplit("#", 1)[-1].rstrip("/").rsplit("/", 1)[-1][:64] or None


def _result(status: int, headers: Mapping[str, str], body: dict[str, object]) -> SendResult:
    if status in (200, 202):
        uuid = body.get("message_uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ProviderError("vonage answered without a message_uuid", permanent=False)
        return SendResult(uuid)
    title = body.get("title")
    code = problem_code(body.get("type"))
    reason = f"vonage {status}" + (f" {title}" if isinstance(title, str) and title else "")
    reason = reason[:200]
    if status == 429 or status >= 500:
        retry = parse_retry_after(headers.get("Retry-After"))
        raise ProviderError(reason, permanent=False, retry_after=retry, unsent=True)
    if status in _ACCOUNT_STATUSES:
        raise ProviderError(reason, permanent=False, unsent=True, code=code)
    raise ProviderError(reason, permanent=True, code=code)
