"""Dead-lettered messages: inspect them, replay them through the normal path, or discard
them on record. The CLI is ``python -m shared.dlq_cli``; the tracker's ops console calls
the same functions.

Every consuming queue ``<queue>`` has ``<queue>.dlq`` (``shared.topology``). A message
lands there from the handling middleware, with the reason in ``x-bs-*`` headers
(``shared.handling``), or from RabbitMQ itself when a quorum queue gave up redelivering
it (``x-death`` headers only, reason ``delivery_limit``): a view shows what is known.

Order. Every operation takes the whole DLQ (up to ``max_messages``) onto one channel
without acking, acks only what it replays or discards, then closes the channel, which
gives the rest back. Taking all of it is what keeps the order: a quorum queue puts a
returned message behind those still waiting (RabbitMQ 3.x), so giving back only the
first few would rotate the queue, while giving back all of them leaves it as it was. A
message dead-lettered during an operation can end up before the ones given back, and a
DLQ longer than ``max_messages`` is rotated by that many. Closing the channel rather than
nacking also keeps RabbitMQ 4 from counting an inspection as a failed delivery.

While an operation holds the messages, others (and the management UI) see the DLQ empty:
run one at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from shared.handling import (
    ATTEMPT_HEADER,
    DEAD_AT_HEADER,
    ERROR_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
)
from shared.logging import REDACTED, SENSITIVE_KEYS, get_logger, scrub_text
from shared.topology import DELIVERY_LIMIT, Topology

REPLAYS_HEADER = "x-bs-replays"
DISCARDS_STREAM = "ops:dlq-discards"
AUDIT_MAXLEN = 10_000
# A channel's prefetch is a 16-bit number, and every held message is in memory.
MAX_MESSAGES = 50_000
BODY_PREVIEW_CHARS = 2_000
# With no delivery for this long, the rest of the DLQ was taken by someone else.
IDLE_SECONDS = 1.0
# Free text and contact points: never shown, whatever the body's shape.
FREE_TEXT_KEYS = SENSITIVE_KEYS | {
    "title",
    "activity_title",
    "notes",
    "reason",
    "clinic_name",
    "help_text",
}
MAX_SHOWN_DEPTH = 12
# Headers a replay drops, so that the message starts over: the middleware's attempt count
# and reasons, and RabbitMQ's own dead-letter and redelivery history.
_RESET_PREFIXES = (
    "x-bs-",
    "x-death",
    "x-first-death-",
    "x-last-death-",
    "x-delivery-count",
    "x-acquired-count",
)
_TEXT_FIELD = re.compile(
    '"(' + "|".join(sorted(FREE_TEXT_KEYS)) + r')"\s*:\s*"(?:[^"\\]|\\.)*"', re.IGNORECASE
)

BROKER_ERRORS = (
    aiormq.exceptions.AMQPError,  # publish returned or nacked, channel closed
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
)

log = get_logger("shared.dead_letters")

Origin = Literal["handling", "broker", "unknown"]


class DeadLetterError(Exception):
    """An operation could not run: unknown queue, broker unreachable, DLQ missing."""


class UnknownQueueError(DeadLetterError):
    """No consuming queue (hence no DLQ) has that name."""


@dataclass(frozen=True)
class DeadLetter:
    """What an operator sees of one dead-lettered message; the body is redacted."""

    id: str
    dlq: str
    message_id: str | None
    correlation_id: str | None
    origin: Origin
    reason: str
    error_type: str | None
    source_queue: str | None
    routing_key: str | None
    dead_lettered_at: datetime | None
    attempt: int | None
    replays: int
    body_bytes: int
    body: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        at = self.dead_lettered_at
        data["dead_lettered_at"] = at.isoformat() if at else None
        return data


@dataclass(frozen=True)
class Selection:
    """Which messages an operation applies to: ids (an entry id or a message id), and/or
    filters, all of which must match; ``everything`` alone selects every message."""

    ids: frozenset[str] = frozenset()
    everything: bool = False
    reason_contains: str | None = None
    routing_key: str | None = None
    error_type: str | None = None
    before: datetime | None = None
    after: datetime | None = None

    @property
    def is_empty(self) -> bool:
        filters = (self.reason_contains, self.routing_key, self.error_type, self.before, self.after)
        return not (self.everything or self.ids) and all(f is None for f in filters)

    def matches(self, entry: DeadLetter) -> bool:
        if self.is_empty:
            return False
        at = entry.dead_lettered_at
        return all(
            (
                not self.ids or entry.id in self.ids or entry.message_id in self.ids,
                self.reason_contains is None
                or self.reason_contains.casefold() in entry.reason.casefold(),
                self.routing_key is None or entry.routing_key == self.routing_key,
                self.error_type is None or entry.error_type == self.error_type,
                self.before is None or (at is not None and at < self.before),
                self.after is None or (at is not None and at >= self.after),
            )
        )


@dataclass(frozen=True)
class Listing:
    dlq: str
    depth: int
    scanned: int
    matched: int
    entries: tuple[DeadLetter, ...]


@dataclass(frozen=True)
class Outcome:
    """What a replay or discard did: ``done`` is a prefix of ``matched``; ``error`` says
    why it stopped early (the rest stay in the DLQ)."""

    dlq: str
    depth: int
    scanned: int
    matched: tuple[DeadLetter, ...]
    done: tuple[DeadLetter, ...]
    error: str | None = None


# -- pure: what a message shows ---------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(str(_text(value)))
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = datetime.fromisoformat(str(_text(value)))
        except ValueError:
            return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _redact_value(value: Any, depth: int = 0) -> Any:
    if depth > MAX_SHOWN_DEPTH:
        return "[nested deeper than shown]"
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _redact_field(str(k), v, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def _redact_field(key: str, value: Any, depth: int) -> Any:
    # A flag or a null under a sensitive name (consent's "sms": true) tells nothing.
    if key.casefold() in FREE_TEXT_KEYS and not isinstance(value, bool | None):
        return REDACTED
    return _redact_value(value, depth + 1)


def redact_body(body: bytes, limit: int = BODY_PREVIEW_CHARS) -> str:
    """A body as an operator may see it: pretty JSON without contact points or free text
    (a body that is not JSON: its text, scrubbed the same way), cut at ``limit``."""
    try:
        shown = json.dumps(_redact_value(json.loads(body)), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        shown = scrub_text(_TEXT_FIELD.sub(lambda m: f'"{m[1]}": "{REDACTED}"', text))
    if len(shown) > limit:
        shown = f"{shown[:limit]}\n... ({len(shown) - limit} more characters)"
    return shown


def entry_id(message_id: str | None, body: bytes, dead_at: str) -> str:
    """Message ids repeat (a replayed message failing again): the id adds a hash of the
    body and of when this copy was dead-lettered."""
    digest = hashlib.sha256(body)
    digest.update(dead_at.encode())
    return f"{message_id or 'no-id'}/{digest.hexdigest()[:12]}"


def _last_death(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    deaths = headers.get("x-death")
    if isinstance(deaths, list | tuple) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]  # RabbitMQ puts the latest first
    return {}


def _broker_reason(death: Mapping[str, Any]) -> str:
    why = _text(death.get("reason")) or "unknown"
    queue = _text(death.get("queue")) or "?"
    if why == "delivery_limit":
        return (
            f"RabbitMQ dead-lettered it from {queue}: delivered {DELIVERY_LIMIT} times and "
            "never acked or rejected (a consumer crashed or timed out on it)"
        )
    return f"RabbitMQ dead-lettered it from {queue}: {why}"


def describe(
    dlq: str,
    headers: Mapping[str, Any],
    body: bytes,
    *,
    message_id: str | None = None,
    correlation_id: str | None = None,
) -> DeadLetter:
    """The view of one DLQ message, from its headers and body."""
    death = _last_death(headers)
    keys = death.get("routing-keys")
    death_key = _text(keys[0]) if isinstance(keys, list | tuple) and keys else None
    origin: Origin
    if (reason := _text(headers.get(REASON_HEADER))) is not None:
        origin, dead_at_raw = "handling", headers.get(DEAD_AT_HEADER)
        error_type, source = _text(headers.get(ERROR_HEADER)), _text(headers.get(QUEUE_HEADER))
    elif death:
        origin, dead_at_raw, reason = "broker", death.get("time"), _broker_reason(death)
        error_type, source = _text(death.get("reason")), _text(death.get("queue"))
    else:
        origin, dead_at_raw, reason = "unknown", None, "no dead-letter headers"
        error_type = source = None
    dead_at = _time(dead_at_raw) if dead_at_raw is not None else None
    return DeadLetter(
        id=entry_id(message_id, body, dead_at.isoformat() if dead_at else ""),
        dlq=dlq,
        message_id=message_id,
        correlation_id=correlation_id,
        origin=origin,
        reason=scrub_text(reason),
        error_type=error_type,
        source_queue=source,
        routing_key=_text(headers.get(ROUTING_KEY_HEADER)) or death_key,
        dead_lettered_at=dead_at,
        attempt=_int(headers.get(ATTEMPT_HEADER)),
        replays=_int(headers.get(REPLAYS_HEADER)) or 0,
        body_bytes=len(body),
        body=redact_body(body),
    )


def replay_headers(headers: Mapping[str, Any], entry: DeadLetter) -> dict[str, Any]:
    """The headers a replayed message travels with: attempt count and dead-letter history
    gone, the event type kept (the middleware reads it from ``x-bs-routing-key`` for a
    message that arrives under its queue's name), and one more replay counted."""
    kept = {k: v for k, v in headers.items() if not k.startswith(_RESET_PREFIXES)}
    if entry.routing_key:
        kept[ROUTING_KEY_HEADER] = entry.routing_key
    kept[REPLAYS_HEADER] = entry.replays + 1
    return kept


def audit_record(entry: DeadLetter, *, reason: str, who: str, at: datetime) -> dict[str, str]:
    """What a discard leaves on record: never the body."""
    return {
        "at": at.isoformat(),
        "who": who,
        "reason": reason,
        "dlq": entry.dlq,
        "entry_id": entry.id,
        "message_id": entry.message_id or "",
        "correlation_id": entry.correlation_id or "",
        "source_queue": entry.source_queue or "",
        "routing_key": entry.routing_key or "",
        "dead_letter_reason": entry.reason,
        "error_type": entry.error_type or "",
        "dead_lettered_at": entry.dead_lettered_at.isoformat() if entry.dead_lettered_at else "",
    }


def resolve_queue(topology: Topology, name: str) -> str:
    """The base name of a consuming queue, given it or its DLQ's name."""
    base = name.removesuffix(".dlq")
    if base not in topology.queues:
        valid = ", ".join(sorted(topology.queues))
        raise UnknownQueueError(f"unknown queue {name!r}; the queues with a DLQ are: {valid}")
    return base


def audit_stream(redis_prefix: str) -> str:
    return f"{redis_prefix}:{DISCARDS_STREAM}"


# -- against the broker -----------------------------------------------------------------


@dataclass
class _Held:
    entry: DeadLetter
    message: AbstractIncomingMessage


@dataclass
class _Hold:
    channel: AbstractChannel
    dlq: str
    depth: int
    held: list[_Held]

    def selected(self, select: Selection) -> list[_Held]:
        return [h for h in self.held if select.matches(h.entry)]


async def _take(
    queue: AbstractQueue, depth: int, max_messages: int
) -> list[AbstractIncomingMessage]:
    """Every message of ``queue`` (up to ``max_messages``), unacked, in queue order."""
    taken: list[AbstractIncomingMessage] = []
    target = min(depth, max_messages)
    if target:
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        # The prefetch stops the broker at ``target``: nothing is delivered past it.
        await queue.channel.set_qos(prefetch_count=target)
        tag = await queue.consume(arrived.put, no_ack=False)
        try:
            while len(taken) < target:
                taken.append(await asyncio.wait_for(arrived.get(), IDLE_SECONDS))
        except TimeoutError:
            pass  # another client took the rest
        finally:
            await queue.cancel(tag)
        while not arrived.empty():  # delivered before the cancel took effect
            taken.append(arrived.get_nowait())
    # Anything dead-lettered since the depth was read: taken too, so it stays behind.
    while len(taken) < max_messages:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return sorted(taken, key=lambda m: m.delivery_tag or 0)


async def _connect(amqp_url: str) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(amqp_url)
    except (OSError, aiormq.exceptions.AMQPError) as exc:
        raise DeadLetterError(f"cannot connect to RabbitMQ: {exc}") from exc


@asynccontextmanager
async def _holding(
    amqp_url: str, topology: Topology, base: str, max_messages: int
) -> AsyncIterator[_Hold]:
    """The DLQ's messages held on one channel; closing it gives back all not acked."""
    if not 1 <= max_messages <= 65_535:
        raise DeadLetterError("max_messages must be between 1 and 65535")
    dlq = topology.dlq(resolve_queue(topology, base))
    connection = await _connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            queue = await channel.declare_queue(dlq, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise DeadLetterError(
                f"{dlq} does not exist: is the namespace right, and has its service started?"
            ) from exc
        depth = queue.declaration_result.message_count or 0
        held = [
            _Held(_describe_message(dlq, m), m) for m in await _take(queue, depth, max_messages)
        ]
        try:
            yield _Hold(channel, dlq, depth, held)
        finally:
            if not channel.is_closed:
                await channel.close()


def _describe_message(dlq: str, message: AbstractIncomingMessage) -> DeadLetter:
    return describe(
        dlq,
        message.headers or {},
        message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
    )


def _require(select: Selection) -> None:
    if select.is_empty:
        raise DeadLetterError("select messages by id, by a filter, or all of them")


async def list_dead_letters(
    amqp_url: str,
    topology: Topology,
    base: str,
    limit: int = 20,
    *,
    select: Selection | None = None,
    max_messages: int = MAX_MESSAGES,
) -> Listing:
    """The first ``limit`` messages of a DLQ (those ``select`` matches, if given), oldest
    first; the DLQ keeps all of them, in order."""
    async with _holding(amqp_url, topology, base, max_messages) as hold:
        entries = [h.entry for h in hold.held if select is None or select.matches(h.entry)]
        return Listing(hold.dlq, hold.depth, len(hold.held), len(entries), tuple(entries[:limit]))


async def dead_letter_depths(amqp_url: str, topology: Topology) -> dict[str, int | None]:
    """Messages in each DLQ by queue base name (None: the DLQ does not exist)."""
    depths: dict[str, int | None] = {}
    connection = await _connect(amqp_url)
    async with connection:
        for base in topology.queues:
            channel = await connection.channel()  # a missing queue closes the one that asked
            try:
                queue = await channel.declare_queue(topology.dlq(base), passive=True)
                depths[base] = queue.declaration_result.message_count or 0
            except aiormq.exceptions.ChannelNotFoundEntity:
                depths[base] = None
            finally:
                if not channel.is_closed:
                    await channel.close()
    return depths


def _replay_message(held: _Held) -> aio_pika.Message:
    raw = held.message
    return aio_pika.Message(
        raw.body,
        headers=replay_headers(raw.headers or {}, held.entry),
        content_type=raw.content_type,
        content_encoding=raw.content_encoding,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        timestamp=raw.timestamp,
        type=raw.type,
        app_id=raw.app_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def replay(
    amqp_url: str,
    topology: Topology,
    base: str,
    select: Selection,
    *,
    max_messages: int = MAX_MESSAGES,
) -> Outcome:
    """Send the selected messages back to their queue through the requeue exchange (the
    path a retry takes), attempt count reset; each DLQ copy is acked only once the broker
    confirmed the new one. Replaying a ``reminder.due`` never sends it twice: the
    notifier's ledger drops a reminder already sent."""
    _require(select)
    base = resolve_queue(topology, base)
    target = topology.queue(base)
    async with _holding(amqp_url, topology, base, max_messages) as hold:
        matched = hold.selected(select)
        requeue = await hold.channel.get_exchange(topology.requeue_exchange, ensure=False)

        async def publish(held: _Held) -> None:
            # mandatory: a queue without its requeue binding fails the replay, not the message
            await requeue.publish(_replay_message(held), routing_key=target, mandatory=True)

        done, error = await _settle(hold.dlq, matched, publish, "replayed", target=target)
    return Outcome(hold.dlq, hold.depth, len(hold.held), _entries(matched), done, error)


async def discard(
    amqp_url: str,
    topology: Topology,
    base: str,
    select: Selection,
    *,
    reason: str,
    who: str,
    redis: Redis | RedisCluster,  # a service's store: one key, so either client does
    redis_prefix: str,
    max_messages: int = MAX_MESSAGES,
) -> Outcome:
    """Drop the selected messages, each recorded first (who, why, what it was, never its
    body) in the capped stream ``<prefix>:ops:dlq-discards`` and in the log."""
    _require(select)
    if not reason.strip() or not who.strip():
        raise DeadLetterError("a discard needs a reason and who is discarding")
    stream = audit_stream(redis_prefix)
    async with _holding(amqp_url, topology, base, max_messages) as hold:
        matched = hold.selected(select)

        async def record(held: _Held) -> None:
            fields: dict[Any, Any] = audit_record(
                held.entry, reason=reason, who=who, at=datetime.now(UTC)
            )
            await redis.xadd(stream, fields, maxlen=AUDIT_MAXLEN, approximate=True)

        done, error = await _settle(
            hold.dlq, matched, record, "discarded", discard_reason=reason, who=who
        )
    return Outcome(hold.dlq, hold.depth, len(hold.held), _entries(matched), done, error)


async def _settle(
    dlq: str,
    matched: list[_Held],
    first: Callable[[_Held], Awaitable[None]],
    verb: str,
    **log_fields: str,
) -> tuple[tuple[DeadLetter, ...], str | None]:
    """Per message: ``first`` (publish the replay, record the discard), then the ack that
    takes it off the DLQ. The first failure stops it; the rest stay in the DLQ."""
    done: list[DeadLetter] = []
    for held in matched:
        try:
            await first(held)
        except (*BROKER_ERRORS, RedisError) as exc:
            log.warning(f"dead letter not {verb}", dlq=dlq, entry_id=held.entry.id, error=repr(exc))
            return tuple(done), f"{held.entry.id} not {verb}, and none after it: {exc!r}"
        done.append(held.entry)
        try:
            await held.message.ack()
        except BROKER_ERRORS as exc:
            return tuple(done), (
                f"{held.entry.id} was {verb} but is still in the DLQ (the ack failed): {exc!r}"
            )
        _log_entry(f"dead letter {verb}", held.entry, **log_fields)
    return tuple(done), None


def _entries(held: list[_Held]) -> tuple[DeadLetter, ...]:
    return tuple(h.entry for h in held)


def _log_entry(event: str, entry: DeadLetter, **extra: str) -> None:
    log.info(
        event,
        dlq=entry.dlq,
        entry_id=entry.id,
        message_id=entry.message_id,
        correlation_id=entry.correlation_id,
        routing_key=entry.routing_key,
        dead_letter_reason=entry.reason,
        **extra,
    )
