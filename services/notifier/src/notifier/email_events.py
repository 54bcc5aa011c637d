"""Email delivery webhooks: SendGrid's signed Event Webhook and an RFC 3464 bounce endpoint.

SendGrid signs each POST with ECDSA (P-256, SHA-256) over the
``X-Twilio-Email-Event-Webhook-Timestamp`` header followed by the raw body; the signature
is base64 DER in ``X-Twilio-Email-Event-Webhook-Signature`` and the verification key is the
base64 DER public key from SendGrid's settings (``NOTIFIER_SENDGRID_WEBHOOK_PUBLIC_KEY``).
Unsigned requests get 401, bad or stale signatures 403. The body is a JSON array of events;
each is handled once (``sg_event_id``), and only events carrying our unique args (the
reminder, see ``providers/smtp.py``) count. ``delivered`` -> delivered, ``bounce`` ->
bounced (and the address stopped), ``blocked`` and ``dropped`` -> failed, ``spamreport`` ->
complained (the address stopped, the clients opted out); ``processed``, ``deferred``,
opens and clicks change nothing (the email stays sent).

The bounce endpoint takes one raw DSN per POST (as a mail server's pipe to HTTP sends it),
with ``Authorization: Bearer <NOTIFIER_DSN_WEBHOOK_TOKEN>``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from notifier import email_outcome
from notifier.directory import EmailStop
from notifier.dsn import MAX_DSN_BYTES, DsnError, parse_dsn
from notifier.email_outcome import EmailOutcome
from notifier.providers.smtp import EmailRef
from notifier.runtime import Runtime
from shared.contracts import DeliveryStatus
from shared.logging import get_logger
from shared.service import Service

log = get_logger("notifier.email_events")
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SENDGRID_PATH = "/webhooks/sendgrid/events"
DSN_PATH = "/webhooks/email/dsn"
MAX_EVENTS_BODY = 4 * 1024 * 1024  # SendGrid batches events; a batch is well under this
SEEN_TTL = 7 * 86400  # SendGrid retries a failed POST for up to 72 hours
MIN_TOKEN = 32
S = DeliveryStatus


# -- the signature (pure) ---------------------------------------------------------------


class SignatureRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@lru_cache(maxsize=4)
def _public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(base64.b64decode(encoded, validate=True))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TypeError("not an elliptic-curve key")
    return key


def verify_signature(
    public_key: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: datetime,
    max_age: float,
) -> None:
    """Raises ``SignatureRefused`` (401 unsigned, 403 not SendGrid's or stale)."""
    if not public_key:
        raise SignatureRefused(403, "the SendGrid event webhook is not configured")
    if not signature or not timestamp:
        raise SignatureRefused(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    try:
        key = _public_key(public_key)
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise SignatureRefused(403, "invalid SendGrid event webhook signature") from exc
    try:
        age = now.timestamp() - int(timestamp)
    except ValueError as exc:
        raise SignatureRefused(403, "the signed timestamp is not a number") from exc
    if abs(age) > max_age:
        raise SignatureRefused(403, "the signed timestamp is too old (a replay?)")


# -- events (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class SendGridEvent:
    event_id: str  # sg_event_id: what makes a retried POST's events repeats
    outcome: EmailOutcome | None  # None: nothing to do (not ours, or no news)


def parse_events(body: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("expected a JSON array of event objects")
    return events


def map_event(raw: dict[str, Any]) -> SendGridEvent:
    """One SendGrid event as an outcome for its reminder (None when it is not ours or
    changes nothing)."""
    event_id = str(raw.get("sg_event_id") or "")
    ref = _ref(raw)
    kind = str(raw.get("event") or "")
    found = _mapped(kind, raw)
    if ref is None or found is None:
        return SendGridEvent(event_id, None)
    status, code, stop = found
    address = raw.get("email")
    outcome = EmailOutcome(
        ref,
        status,
        address if isinstance(address, str) and address else None,
        code,
        stop if isinstance(address, str) and address else None,
        _time(raw.get("timestamp")),
    )
    return SendGridEvent(event_id, outcome)


Mapped = tuple[DeliveryStatus, str | None, EmailStop | None]


def _mapped(kind: str, raw: dict[str, Any]) -> Mapped | None:
    if kind == "delivered":
        return S.DELIVERED, None, None
    if kind == "bounce":
        smtp = str(raw.get("status") or "").strip()
        if str(raw.get("type") or "bounce") == "blocked":
            # A receiving server refused us (reputation, content): not the address.
            return S.FAILED, _code("blocked", smtp), None
        return S.BOUNCED, _code("bounce", smtp), "bounced"
    if kind == "dropped":
        # SendGrid did not send it: the address is on its bounce or spam list already.
        reason = str(raw.get("reason") or "").lower()
        stop: EmailStop | None = None
        if "spam" in reason:
            stop = "complained"
        elif "bounce" in reason:
            stop = "bounced"
        return S.FAILED, "dropped", stop
    if kind == "spamreport":
        return S.COMPLAINED, "spamreport", "complained"
    return None  # processed, deferred, open, click, ...: the email stays sent


def _code(kind: str, smtp: str) -> str:
    return f"{kind}:{smtp}" if smtp else kind


def _ref(raw: dict[str, Any]) -> EmailRef | None:
    clinic, reminder = raw.get("bs_clinic_id"), raw.get("bs_reminder_id")
    if not isinstance(clinic, str) or not isinstance(reminder, str) or not clinic or not reminder:
        return None
    message_id = raw.get("bs_message_id")
    return EmailRef(clinic, reminder, message_id if isinstance(message_id, str) else "")


def _time(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def bearer_ok(expected: str, header: str | None) -> bool:
    """The DSN endpoint's token (an unset or short one refuses everything)."""
    if len(expected) < MIN_TOKEN or not header or not header.startswith("Bearer "):
        return False
    given = header.removeprefix("Bearer ").strip()
    # Bytes: compare_digest refuses str with non-ASCII characters (a header may carry any).
    return hmac.compare_digest(given.encode(), expected.encode())


# -- routes -------------------------------------------------------------------------------


def add_routes(app: FastAPI, service: Service, runtime: Runtime) -> None:
    router = APIRouter()

    @router.post(SENDGRID_PATH)
    async def sendgrid_events(request: Request) -> Response:
        return await receive_sendgrid(request, service, runtime)

    @router.post(DSN_PATH)
    async def dsn(request: Request) -> Response:
        return await receive_dsn(request, service, runtime)

    app.include_router(router)


async def receive_sendgrid(request: Request, service: Service, runtime: Runtime) -> Response:
    body = await _body(request, MAX_EVENTS_BODY)
    settings = runtime.settings
    try:
        verify_signature(
            settings.sendgrid_webhook_public_key,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            body,
            now=datetime.now(UTC),
            max_age=settings.sendgrid_webhook_max_age_seconds,
        )
    except SignatureRefused as refused:
        log.warning("refused a SendGrid event webhook request", reason=refused.reason)
        raise HTTPException(refused.status, refused.reason) from None
    try:
        events = [map_event(e) for e in parse_events(body)]
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    handled = 0
    for event in events:
        if event.outcome is None or await _seen(runtime, event.event_id):
            continue
        await email_outcome.record(event.outcome, runtime.directory, service.publisher.publish)
        await _mark_seen(runtime, event.event_id)
        handled += 1
    return JSONResponse({"events": len(events), "handled": handled})


async def receive_dsn(request: Request, service: Service, runtime: Runtime) -> Response:
    token = runtime.settings.dsn_webhook_token.get_secret_value()
    if not bearer_ok(token, request.headers.get("Authorization")):
        challenge = {"WWW-Authenticate": "Bearer"}
        raise HTTPException(401, "missing or wrong bearer token", challenge)
    body = await _body(request, MAX_DSN_BYTES)
    try:
        outcomes = parse_dsn(body)
    except DsnError as exc:
        raise HTTPException(422, f"not a usable delivery status notification: {exc}") from exc
    for outcome in outcomes:
        await email_outcome.record(outcome, runtime.directory, service.publisher.publish)
    return JSONResponse({"recipients": len(outcomes)})


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, "body too large")
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, "body too large")
    return body


def _seen_key(runtime: Runtime, event_id: str) -> str:
    return f"{runtime.directory.keys.prefix}:sg-event:{event_id}"


async def _seen(runtime: Runtime, event_id: str) -> bool:
    # Events without an id are handled every time: each step is idempotent on its own.
    return bool(event_id) and bool(
        await runtime.directory.redis.exists(_seen_key(runtime, event_id))
    )


async def _mark_seen(runtime: Runtime, event_id: str) -> None:
    """After handling: a POST that failed half-way is retried by SendGrid and its handled
    events are skipped then."""
    if event_id:
        await runtime.directory.redis.set(_seen_key(runtime, event_id), "1", ex=SEEN_TTL)
