"""Vonage Messages API webhooks: message statuses and inbound SMS.

Vonage signs each request with a JWT in ``Authorization: Bearer`` (HS256 with the
account's signature secret) whose ``payload_hash`` claim is the SHA-256 (hex) of the
body, and whose ``iat`` says when it was signed. We check all three: no token is 401; a
token that does not verify, is older than ``MAX_AGE_SECONDS`` or covers another body is
403. A status becomes ``delivery.status.changed`` like Twilio's (``statuses.py``): the
per-message ``webhook_url`` names the clinic and reminder, so nothing is looked up; a
keyword reply's statuses (its URL says ``reply=1``) are about no reminder and only logged.
Inbound SMS keywords act as Twilio's do (STOP/START, HELP, DONE, in four languages), and
the reply goes back through the Messages API (``vonage_replies.py``): Vonage confirms no
keyword itself, so a standard STOP or START is confirmed by us too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response

from notifier.callback_url import callback_ref
from notifier.keywords import recognise
from notifier.providers.vonage import REPLY_PARAM, problem_code
from notifier.runtime import Runtime
from notifier.statuses import StatusReport, announce_status
from notifier.vonage_replies import Inbound, send_reply
from notifier.webhooks import bounded_body, keyword_reply
from shared.contracts import DeliveryStatus
from shared.logging import get_logger
from shared.service import Service

log = get_logger("notifier.vonage_webhooks")
STATUS_PATH = "/webhooks/vonage/status"
INBOUND_PATH = "/webhooks/vonage/inbound"
MAX_AGE_SECONDS = 300  # a signed request replayed later than this is refused
CLOCK_SKEW_SECONDS = 30

_STATUSES: dict[str, DeliveryStatus] = {
    "submitted": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "rejected": DeliveryStatus.FAILED,
    "undeliverable": DeliveryStatus.UNDELIVERED,
}


class BadSignature(Exception):
    pass


def verify_signature(authorization: str, body: bytes, secret: str, now: float) -> None:
    """Raises ``BadSignature`` (with why) unless Vonage signed exactly ``body`` lately."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadSignature("no bearer token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            options={"require": ["iat", "payload_hash"], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise BadSignature(f"token does not verify: {type(exc).__name__}") from exc
    iat = claims["iat"]
    fresh = isinstance(iat, int | float) and now - MAX_AGE_SECONDS <= iat
    if not fresh or iat > now + CLOCK_SKEW_SECONDS:
        raise BadSignature("token too old or from the future")
    expected = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(str(claims["payload_hash"]).lower(), expected):
        raise BadSignature("payload_hash does not match the body")


def map_status(status: str) -> DeliveryStatus | None:
    """None for a status that says nothing about delivery."""
    return _STATUSES.get(status.strip().lower())


def error_code(error: object) -> str | None:
    """Vonage's problem type ends in its code (``.../messages-olympus#1250``)."""
    return problem_code(error.get("type")) if isinstance(error, dict) else None


def e164(number: object) -> str | None:
    """Vonage sends numbers without the ``+``."""
    if not isinstance(number, str) or not number.strip("+").isdigit():
        return None
    return "+" + number.strip("+")


async def signed_json(request: Request, runtime: Runtime) -> dict[str, Any]:
    """The JSON body, if the request really comes from Vonage."""
    raw = await bounded_body(request, "application/json")
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        raise HTTPException(401, "missing Authorization: Bearer <Vonage signed JWT>")
    secret = runtime.settings.vonage_signature_secret.get_secret_value()
    try:
        verify_signature(authorization, raw, secret, time.time())
    except BadSignature as exc:
        log.warning("refused a request with a bad Vonage signature", why=str(exc))
        raise HTTPException(403, "invalid Vonage signature") from exc
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "malformed JSON body") from exc
    if not isinstance(data, dict):
        raise HTTPException(400, "expected a JSON object")
    return data


def inbound_of(data: dict[str, Any], phone: str) -> Inbound:
    """Its id (to reply once) and the number it was sent to (to reply from)."""
    uuid = data.get("message_uuid")
    return Inbound(uuid if isinstance(uuid, str) and uuid else None, phone, e164(data.get("to")))


def require(data: dict[str, Any], *names: str) -> list[str]:
    missing = [n for n in names if not isinstance(data.get(n), str) or not data[n]]
    if missing:
        raise HTTPException(400, f"missing fields: {', '.join(missing)}")
    return [str(data[n]) for n in names]


def add_routes(app: FastAPI, service: Service, runtime: Runtime) -> None:
    router = APIRouter()

    @router.post(STATUS_PATH)
    async def vonage_status(request: Request) -> Response:
        data = await signed_json(request, runtime)
        uuid, raw_status = require(data, "message_uuid", "status")
        if request.query_params.get(REPLY_PARAM):  # a keyword reply's: no reminder to tell
            error = error_code(data.get("error"))
            log.info("vonage keyword reply status", status=raw_status, error=error)
            return Response(status_code=204)
        status = map_status(raw_status)
        if status is None:
            return Response(status_code=204)
        report = StatusReport(
            "vonage",
            uuid,
            status,
            error_code(data.get("error")),
            callback_ref(request.query_params),
            e164(data.get("to")),
        )
        await announce_status(service, runtime, report)
        return Response(status_code=204)

    @router.post(INBOUND_PATH)
    async def vonage_inbound(request: Request) -> Response:
        data = await signed_json(request, runtime)
        phone = e164(data.get("from"))
        if phone is None:
            raise HTTPException(400, "missing or malformed field: from")
        match = recognise(str(data.get("text") or ""))
        reply = await keyword_reply(service, runtime, phone, match, confirms_standard=False)
        if reply:
            await send_reply(runtime, inbound_of(data, phone), reply)
        return Response(status_code=204)

    app.include_router(router)
