"""SMS through the Twilio Messages REST API (httpx; base URL configurable)."""

from __future__ import annotations

import httpx

from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after

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
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), auth=(account_sid, auth_token), timeout=timeout
        )

    @property
    def rate_key(self) -> str:
        return f"twilio:{self.account_sid}:{self.from_number}"

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_phone:
            raise ProviderError("no phone number", permanent=True)
        form = {
            "To": message.to_phone,
            "From": self.from_number,
            "Body": message.text,
            "StatusCallback": self.status_callback,
        }
        try:
            response = await self._client.post(
                f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form
            )
        except httpx.TimeoutException as exc:
            raise ProviderError("twilio timed out", permanent=False) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"twilio unreachable: {type(exc).__name__}", permanent=False
            ) from exc
        return _result(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _result(response: httpx.Response) -> SendResult:
    status = response.status_code
    if status in (200, 201):
        sid = _json(response).get("sid")
        if not isinstance(sid, str) or not sid:
            raise ProviderError("twilio answered without a message sid", permanent=False)
        return SendResult(sid)
    body = _json(response)
    code = body.get("code")
    reason = f"twilio {status}" + (f" code {code}" if code else "")
    if status == 429 or status >= 500:
        retry = parse_retry_after(response.headers.get("Retry-After"))
        raise ProviderError(reason, permanent=False, retry_after=retry)
    if status in (401, 403):  # our credentials, not the recipient: retry, don't fail over
        raise ProviderError(reason, permanent=False)
    return _permanent(reason, code)


def _permanent(reason: str, code: object) -> SendResult:
    raise ProviderError(reason, permanent=True, code=str(code) if code else None)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
