"""Web Push (RFC 8030/8291/8292) with VAPID: pywebpush encrypts and signs, and its
``webpush_async`` posts on one aiohttp session made on first use and closed at shutdown,
like the Twilio provider's. Its blocking ``webpush`` would need ``requests`` in a worker
thread per send. The endpoint URL comes from the browser's subscription.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from notifier.providers.base import OutboundMessage, ProviderError, SendResult, parse_retry_after

# ProviderError.code (the HTTP status) of a subscription the push service says is gone:
# the dispatcher removes it from the directory and announces push.revoked. Never retried.
GONE_CODES = frozenset({"404", "410"})


class WebPushProvider:
    name = "webpush"

    def __init__(self, *, private_key: str, subject: str, timeout: float = 10.0) -> None:
        self._key, self._subject, self._timeout = private_key, subject, timeout
        self._signer: Any = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def rate_key(self) -> str:
        return "webpush"

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that runs the sends.
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def _vapid(self) -> Any:
        # Parsed once, on the first send: given the key as a string, pywebpush would parse
        # it (and stat it as a file name) on every send; a bad key fails sends, not start-up.
        if self._signer is None:
            self._signer = Vapid.from_string(private_key=self._key)
        return self._signer

    async def send(self, message: OutboundMessage) -> SendResult:
        sub = message.to_push
        if sub is None:
            raise ProviderError("no push subscription", permanent=True)
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        body = {"title": message.push_title, "body": message.text}
        if message.url:  # the service worker opens it on a tap (notificationclick)
            body["url"] = message.url
        origin = urlsplit(sub.endpoint)
        claims = {"sub": self._subject, "aud": f"{origin.scheme}://{origin.netloc}"}
        try:
            response: Any = await webpush_async(
                subscription_info=info,
                data=json.dumps(body),
                vapid_private_key=self._vapid(),
                vapid_claims=claims,
                # Passed on to the post: None there would mean no limit at all, not the
                # session's.
                timeout=self._timeout,
                aiohttp_session=self._client(),
            )
        except WebPushException as exc:
            raise _classify(exc) from exc
        except TimeoutError as exc:
            raise ProviderError("push timed out", permanent=False) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"push unreachable: {type(exc).__name__}", permanent=False) from exc
        except ValueError as exc:  # a key that does not decode: ours or the subscription's
            raise ProviderError(
                f"push keys unusable: {type(exc).__name__}", permanent=False
            ) from exc
        location = str(response.headers.get("Location") or "")
        return SendResult(location.rsplit("/", 1)[-1] or f"push-{message.reminder_id}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _classify(exc: WebPushException) -> ProviderError:
    response = exc.response  # an aiohttp.ClientResponse, or None for a bad subscription
    status = int(getattr(response, "status", 0) or 0)
    if str(status) in GONE_CODES:
        return ProviderError(f"push subscription gone ({status})", permanent=True, code=str(status))
    if status == 429 or status >= 500 or status == 0:
        retry = parse_retry_after(
            response.headers.get("Retry-After") if response is not None else None
        )
        return ProviderError(f"push {status}", permanent=False, retry_after=retry)
    return ProviderError(f"push refused ({status})", permanent=True, code=str(status))
