"""Web Push (RFC 8030/8291/8292) through pywebpush with VAPID.

pywebpush is blocking (requests), so each send runs in a worker thread. The endpoint
URL comes from the browser's subscription.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from pywebpush import WebPushException, webpush

from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after


class WebPushProvider:
    name = "webpush"

    def __init__(self, *, private_key: str, subject: str, timeout: float = 10.0) -> None:
        self._key, self._subject, self._timeout = private_key, subject, timeout

    @property
    def rate_key(self) -> str:
        return "webpush"

    async def send(self, message: OutboundMessage) -> SendResult:
        sub = message.to_push
        if sub is None:
            raise ProviderError("no push subscription", permanent=True)
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        body = {"title": message.push_title, "body": message.text}
        if message.url:  # the service worker opens it on a tap (notificationclick)
            body["url"] = message.url
        payload = json.dumps(body)
        origin = urlsplit(sub.endpoint)
        claims = {"sub": self._subject, "aud": f"{origin.scheme}://{origin.netloc}"}
        try:
            response: Any = await asyncio.to_thread(
                webpush,
                subscription_info=info,
                data=payload,
                vapid_private_key=self._key,
                vapid_claims=claims,
                timeout=self._timeout,
            )
        except WebPushException as exc:
            raise _classify(exc) from exc
        except Exception as exc:  # requests' connection errors and timeouts
            raise ProviderError(f"push unreachable: {type(exc).__name__}", permanent=False) from exc
        location = str(response.headers.get("Location") or "")
        return SendResult(location.rsplit("/", 1)[-1] or f"push-{message.reminder_id}")

    async def aclose(self) -> None:
        return None


def _classify(exc: WebPushException) -> ProviderError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    if status in (404, 410):
        return ProviderError(f"push subscription gone ({status})", permanent=True, code=str(status))
    if status == 429 or status >= 500 or status == 0:
        retry = parse_retry_after(response.headers.get("Retry-After") if response else None)
        return ProviderError(f"push {status}", permanent=False, retry_after=retry)
    return ProviderError(f"push refused ({status})", permanent=True, code=str(status))
