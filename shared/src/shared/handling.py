"""What happens around every message a service consumes.

One middleware, installed on every broker, gives all three services the same rules:
- bind message and correlation ids to the log context and write one summary line;
- bad input (too large or too deeply nested, not JSON, does not validate,
  ``PermanentError``) goes to the queue's dead-letter queue on the first attempt *with
  the reason in its headers*, and the consumer moves on;
- anything else is retried later through the TTL retry tiers (never by sleeping in
  the handler), with exponential backoff and jitter, then dead-lettered when the
  retry budget is spent.
The original message is acked only after the dead-letter or retry copy is confirmed
by the broker, so nothing is lost if that publish fails (the message is nacked and
redelivered instead).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, get_type_hints

import structlog
from aio_pika import IncomingMessage
from faststream import BaseMiddleware
from faststream.message import StreamMessage
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange
from pydantic import TypeAdapter, ValidationError

from shared.errors import PermanentError, TransientError
from shared.logging import get_logger
from shared.metrics import (
    DEAD_LETTERED,
    RETRIES,
    event_type_label,
    handled_counter,
    handling_histogram,
)
from shared.tenancy import TenantCheck
from shared.topology import Topology

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

ATTEMPT_HEADER = "x-bs-attempt"
REASON_HEADER = "x-bs-dead-letter-reason"
ERROR_HEADER = "x-bs-error-type"
QUEUE_HEADER = "x-bs-source-queue"
ROUTING_KEY_HEADER = "x-bs-routing-key"
DEAD_AT_HEADER = "x-bs-dead-lettered-at"
LAST_ERROR_HEADER = "x-bs-last-error"
MAX_REASON = 1000
# Checked before the body is parsed: a body nested thousands of levels deep made the JSON
# decoder raise RecursionError, which looked like a bug and was retried for minutes.
MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
BACKOFF_BASE = 1.0
BACKOFF_CAP = 600.0

log = get_logger("shared.handling")
# What the handler adds to the message's summary line (``add_to_summary``).
_SUMMARY: ContextVar[dict[str, Any] | None] = ContextVar("bs_message_summary", default=None)


def add_to_summary(**fields: Any) -> None:
    """Put ``fields`` on the summary line of the message being handled: one line per
    message says what became of it, instead of a line of the handler's own beside it."""
    summary = _SUMMARY.get()
    if summary is not None:
        summary.update(fields)


# A JSON string (skipped whole, so brackets inside text do not count) or a bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if the JSON in ``body`` nests objects and arrays deeper than ``limit``."""
    # Counting brackets runs in C: a body with no more openers than the limit cannot nest
    # deeper than it, which settles almost every real event without the scan below.
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        bracket = token[0]
        if bracket in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"}", b"]"):
            depth -= 1
    return False


class BodyRefusedError(PermanentError):
    """The body is refused before parsing: too large or nested too deeply."""


def oversized_reason(body: bytes, max_bytes: int, max_depth: int) -> str | None:
    """Why a body is refused before parsing (too large, too deep), or None."""
    if len(body) > max_bytes:
        return f"body is {len(body)} bytes, over the limit of {max_bytes} bytes"
    if json_depth_exceeds(body, max_depth):
        return f"body nests JSON objects/arrays deeper than the limit of {max_depth} levels"
    return None


def describe_validation_error(exc: ValidationError, body: bytes) -> str:
    """A reason an integrator can act on: which field, and why."""
    if not_json := _body_json_error(body):
        return not_json[:MAX_REASON]
    parts = []
    for err in exc.errors(include_url=False)[:10]:
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)[:MAX_REASON]


def _body_json_error(body: bytes) -> str | None:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"body is not valid JSON: {exc}"
    except RecursionError:
        return "body nests JSON too deeply to decode"
    return None


def permanent_reason(exc: Exception, body: bytes) -> str | None:
    """Why this message can never succeed, or None if trying again may help."""
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc, body)
    if isinstance(exc, PermanentError):
        return str(exc)[:MAX_REASON]
    if isinstance(exc, RecursionError):
        # Input that defeats the decoder fails the same way every time: not worth a retry.
        return f"body could not be decoded: {exc}"[:MAX_REASON]
    if isinstance(exc, ValueError) and (reason := _body_json_error(body)):
        return reason[:MAX_REASON]  # FastStream's JSON decoding of the body failed
    return None


def body_validator(
    handler: Callable[..., Any], tenants: TenantCheck | None = None
) -> Callable[[StreamMessage[Any]], Awaitable[Any]] | None:
    """A FastStream decoder that validates a body straight from its bytes into the type
    of the handler's one parameter, or None when the handler does not have exactly one
    annotated parameter (FastStream's own decoding then applies).

    pydantic-core parses the JSON as it validates: one pass instead of ``json.loads``
    into dicts and a validation of those. FastStream still checks the handler's
    argument, but it is already an instance of the annotated type and passes as is; the
    AsyncAPI document still takes the payload's schema from the annotation. A body that
    is not JSON or does not validate raises ``ValidationError``, dead-lettered by the
    handling middleware with the reason (``describe_validation_error``).

    With ``tenants`` (publishers bound to their clinics), an event delivered from the
    inbound exchange is also checked against the broker-validated ``user_id`` of its
    publisher; a refusal is a ``TenantRefusedError``, dead-lettered with the reason.
    Without, the decoder does nothing more than validate."""
    params = list(inspect.signature(handler).parameters.values())
    try:
        hints = get_type_hints(handler, include_extras=True)
    except NameError:  # an annotation that only resolves where the handler was defined
        return None
    if len(params) != 1 or params[0].kind not in _ONE_VALUE or params[0].name not in hints:
        return None
    validate = TypeAdapter[Any](hints[params[0].name]).validate_json

    async def decode(msg: StreamMessage[Any]) -> Any:
        return validate(msg.body)

    if tenants is None:
        return decode

    async def decode_and_check(msg: StreamMessage[Any]) -> Any:
        event = validate(msg.body)
        raw: IncomingMessage = msg.raw_message
        tenants.check(raw.exchange, raw.user_id, getattr(event, "clinic_id", None))
        return event

    return decode_and_check


_ONE_VALUE = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; a provider's Retry-After is a floor."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempt - 1, 0))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)
    return max(delay, retry_after or 0.0)


async def finish_even_if_cut(work: Awaitable[Any]) -> Any:
    """Await a handler that runs to its end even when the broker connection drops.

    aiormq cancels a channel's consumer tasks when its connection is lost. A handler cut
    between its Redis commit and the publish of what it committed would leave the
    commit's once-claim taken with nothing announced, and the redelivered message would
    find nothing left to announce (the RabbitMQ cluster drill lost tracker statuses so).
    Shielded, the handler finishes: its publish fails on the dead channel and releases
    the claim, or goes out on the reconnected one. The caller is still cancelled: the
    message's ack went with the channel, so it is redelivered either way."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_log_cut_handler)
        raise


def _log_cut_handler(task: asyncio.Future[Any]) -> None:
    """How a handler cut off from its connection ended (its message is redelivered)."""
    error = None if task.cancelled() else task.exception()
    log.info("handler finished after its connection was lost", error=repr(error) if error else None)


@dataclass
class HandlingRuntime:
    """What the middleware needs from its service; the broker is attached after creation."""

    topology: Topology
    max_attempts: int
    max_body_bytes: int = MAX_BODY_BYTES
    max_depth: int = MAX_JSON_DEPTH
    broker: RabbitBroker | None = None


class EventHandlingMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, runtime: HandlingRuntime) -> None:
        super().__init__(msg, context=context)
        self.runtime = runtime

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        raw: IncomingMessage = msg.raw_message
        queue = self._queue_name(raw)
        # A retried message travels under its queue's name; the header keeps the original key.
        event_type = str((raw.headers or {}).get(ROUTING_KEY_HEADER) or raw.routing_key or "?")
        structlog.contextvars.bind_contextvars(
            message_id=msg.message_id, correlation_id=msg.correlation_id, event_type=event_type
        )
        started = time.perf_counter()
        outcome = "ok"
        summary: dict[str, Any] = {}
        summary_token = _SUMMARY.set(summary)
        try:
            self._refuse_unreadable(raw.body)
            return await finish_even_if_cut(call_next(msg))
        except asyncio.CancelledError:
            # The broker connection went away mid-message: it is redelivered, not done.
            outcome = "cancelled"
            raise
        except Exception as exc:
            reason = permanent_reason(exc, raw.body)
            if reason is None:  # a bug or an outage: retry later, never lose it
                outcome = await self._retry_or_give_up(raw, queue, exc)
            else:
                outcome = "dead_lettered"
                await self._dead_letter(raw, queue, reason, type(exc).__name__)
            return None
        finally:
            elapsed = time.perf_counter() - started
            handling_histogram(queue).observe(elapsed)
            # The header is the sender's word: only known event types become label values.
            handled_counter(queue, event_type_label(event_type), outcome).inc()
            summary.update(queue=queue, outcome=outcome, ms=round(elapsed * 1000, 2))
            log.info("message handled", **summary)
            _SUMMARY.reset(summary_token)
            structlog.contextvars.unbind_contextvars("message_id", "correlation_id", "event_type")

    def _refuse_unreadable(self, body: bytes) -> None:
        """Refuse a body before anything parses it (see ``oversized_reason``)."""
        runtime = self.runtime
        if refused := oversized_reason(body, runtime.max_body_bytes, runtime.max_depth):
            raise BodyRefusedError(refused)

    def _queue_name(self, raw: IncomingMessage) -> str:
        handler = self.context.get_local("handler_")
        queue = getattr(handler, "queue", None)
        return str(getattr(queue, "name", raw.routing_key or "unknown"))

    @staticmethod
    def _original_key(raw: IncomingMessage) -> str:
        return str((raw.headers or {}).get(ROUTING_KEY_HEADER) or raw.routing_key or "")

    async def _retry_or_give_up(self, raw: IncomingMessage, queue: str, exc: Exception) -> str:
        attempt = int(str((raw.headers or {}).get(ATTEMPT_HEADER) or 0)) + 1
        error = f"{type(exc).__name__}: {exc}"[:MAX_REASON]
        if attempt >= self.runtime.max_attempts:
            reason = f"gave up after {attempt} attempts; last error: {error}"
            await self._dead_letter(raw, queue, reason, type(exc).__name__)
            return "dead_lettered"
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        tier = self.runtime.topology.retry_tier_for(backoff_seconds(attempt, retry_after))
        log.warning("retry scheduled", queue=queue, attempt=attempt, tier_s=tier, error=error)
        if not isinstance(exc, TransientError):
            log.exception("unexpected error while handling", exc_info=exc)
        headers = {
            **(raw.headers or {}),
            ATTEMPT_HEADER: attempt,
            LAST_ERROR_HEADER: error,
            ROUTING_KEY_HEADER: self._original_key(raw),
        }
        await self._republish(raw, self.runtime.topology.retry_exchange(tier), queue, headers)
        RETRIES.labels(queue, str(tier)).inc()
        return "retried"

    async def _dead_letter(self, raw: IncomingMessage, queue: str, reason: str, error: str) -> None:
        headers = {
            **(raw.headers or {}),
            REASON_HEADER: reason,
            ERROR_HEADER: error,
            QUEUE_HEADER: queue,
            ROUTING_KEY_HEADER: self._original_key(raw),
            DEAD_AT_HEADER: datetime.now(UTC).isoformat(),
        }
        await self._republish(raw, self.runtime.topology.dead_letter_exchange, queue, headers)
        DEAD_LETTERED.labels(queue, error).inc()
        log.warning("dead-lettered", queue=queue, reason=reason, error_type=error)

    async def _republish(
        self, raw: IncomingMessage, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        broker = self.runtime.broker
        assert broker is not None, "HandlingRuntime.broker is attached by make_broker"
        await broker.publish(
            raw.body,
            exchange=RabbitExchange(exchange, type=ExchangeType.DIRECT, declare=False),
            routing_key=routing_key,
            headers=headers,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            content_type=raw.content_type,
            persist=True,
            mandatory=False,
        )


def make_broker(
    amqp_url: str,
    topology: Topology,
    *,
    max_attempts: int = 8,
    prefetch: int = 64,
    max_body_bytes: int = MAX_BODY_BYTES,
    tracer_provider: TracerProvider | None = None,
) -> RabbitBroker:
    """A broker with the handling middleware and a bounded prefetch; with a tracer
    provider, also FastStream's telemetry middleware (none at all without one)."""
    runtime = HandlingRuntime(
        topology=topology, max_attempts=max_attempts, max_body_bytes=max_body_bytes
    )
    broker = RabbitBroker(
        amqp_url,
        default_channel=Channel(prefetch_count=prefetch),
        logger=get_logger("faststream"),
        graceful_timeout=10.0,
        # FastStream's own Received/Processed lines would duplicate our summary line; at
        # DEBUG, our filtering logger drops them before any processor runs.
        log_level=logging.DEBUG,
    )
    broker.add_middleware(partial(EventHandlingMiddleware, runtime=runtime))
    if tracer_provider is not None:
        from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

        # Outermost: the consume span also covers the retry and dead-letter publishes.
        broker.insert_middleware(RabbitTelemetryMiddleware(tracer_provider=tracer_provider))
    runtime.broker = broker
    return broker
