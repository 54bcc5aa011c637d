"""Dead letters from the command line: ``python -m shared.dlq_cli list|replay|discard``.

    python -m shared.dlq_cli list                                   # every DLQ's depth
    python -m shared.dlq_cli list --queue notifier.reminders [--json] [--limit 50]
    python -m shared.dlq_cli replay --queue notifier.reminders --id <id> [--id <id>]
    python -m shared.dlq_cli replay --queue tracker.events --reason-contains timeout
    python -m shared.dlq_cli replay --queue scheduler.assignments --all
    python -m shared.dlq_cli discard --queue tracker.events --all --reason "sender bug #42"

Filters combine (all must match); ``--id`` takes an entry id from ``list`` or a message
id. Exit codes: 0 done; 1 nothing matched, or the broker or Redis failed (what was done
before is reported); 2 a usage error (unknown queue, nothing to select by, bad option).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from shared.dead_letters import (
    BROKER_ERRORS,
    MAX_MESSAGES,
    DeadLetter,
    DeadLetterError,
    Listing,
    Outcome,
    Selection,
    UnknownQueueError,
    dead_letter_depths,
    discard,
    list_dead_letters,
    replay,
    resolve_queue,
)
from shared.logging import configure_logging
from shared.settings import redis_prefix
from shared.topology import Topology

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
OK, FAILED, USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit code 2)."""


def _namespace(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9._-]*", value):
        raise argparse.ArgumentTypeError("a namespace is lower-case letters, digits, . _ -")
    return value


def _when(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--amqp-url", default=os.environ.get("BS_AMQP_URL", DEFAULT_AMQP_URL), help="RabbitMQ"
    )
    common.add_argument(
        "--namespace",
        type=_namespace,
        default=os.environ.get("BS_NAMESPACE", ""),
        help="the services' *_NAMESPACE ('' in production)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--max-messages",
        type=int,
        default=MAX_MESSAGES,
        help="most messages taken from the DLQ at once (a longer DLQ is rotated by this many)",
    )
    return common


def _selection_options() -> argparse.ArgumentParser:
    select = argparse.ArgumentParser(add_help=False)
    select.add_argument("--queue", required=True, help="e.g. notifier.reminders")
    select.add_argument("--id", action="append", default=[], help="entry or message id")
    select.add_argument("--all", action="store_true", help="every message of the DLQ")
    select.add_argument("--reason-contains", help="dead-letter reason contains (any case)")
    select.add_argument("--routing-key", help="the event type, e.g. reminder.due")
    select.add_argument("--error-type", help="e.g. ValidationError, delivery_limit")
    select.add_argument("--before", type=_when, help="dead-lettered before (ISO 8601, UTC)")
    select.add_argument("--after", type=_when, help="dead-lettered at or after")
    return select


def build_parser() -> argparse.ArgumentParser:
    common, select = _common_options(), _selection_options()
    parser = argparse.ArgumentParser(
        prog="python -m shared.dlq_cli", description="Inspect, replay or discard dead letters."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser(
        "list", parents=[common], help="DLQ depths, or one DLQ's messages (bodies redacted)"
    )
    listing.add_argument("--queue", help="show this queue's DLQ (without: every DLQ's depth)")
    listing.add_argument("--limit", type=int, default=20, help="messages shown")
    commands.add_parser(
        "replay", parents=[common, select], help="send back to the queue, attempts reset"
    )
    dropping = commands.add_parser(
        "discard", parents=[common, select], help="drop, recorded in the audit stream"
    )
    dropping.add_argument("--reason", required=True, help="why (kept in the audit record)")
    dropping.add_argument("--who", default=os.environ.get("USER", ""), help="default: $USER")
    dropping.add_argument(
        "--redis-url", default=os.environ.get("BS_REDIS_URL", DEFAULT_REDIS_URL), help="Redis"
    )
    dropping.add_argument(
        "--redis-prefix", help="the services' Redis prefix (default: '<namespace>:bs' or 'bs')"
    )
    return parser


def selection(args: argparse.Namespace) -> Selection:
    chosen = Selection(
        ids=frozenset(args.id),
        everything=args.all,
        reason_contains=args.reason_contains,
        routing_key=args.routing_key,
        error_type=args.error_type,
        before=args.before,
        after=args.after,
    )
    if chosen.is_empty:
        raise UsageError("select messages: --id, --all, or a filter (see --help)")
    return chosen


# -- output -----------------------------------------------------------------------------


def _indent(text: str, by: str) -> str:
    return "\n".join(by + line for line in text.splitlines())


def format_entry(number: int, entry: DeadLetter) -> str:
    at = entry.dead_lettered_at.isoformat() if entry.dead_lettered_at else "unknown"
    attempt = "-" if entry.attempt is None else str(entry.attempt)
    return "\n".join(
        (
            f"{number}. {entry.id}",
            f"   reason:       {entry.reason}",
            f"   error type:   {entry.error_type or '-'}   attempt: {attempt}"
            f"   replays: {entry.replays}   ({entry.origin})",
            f"   source queue: {entry.source_queue or '-'}"
            f"   routing key: {entry.routing_key or '-'}",
            f"   dead at:      {at}   correlation id: {entry.correlation_id or '-'}",
            f"   body ({entry.body_bytes} bytes):",
            _indent(entry.body, "     "),
        )
    )


def print_listing(listing: Listing, as_json: bool) -> None:
    if as_json:
        data: dict[str, Any] = {
            "dlq": listing.dlq,
            "depth": listing.depth,
            "scanned": listing.scanned,
            "matched": listing.matched,
            "entries": [e.as_json() for e in listing.entries],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    print(f"{listing.dlq}: {listing.depth} messages, {len(listing.entries)} shown")
    if listing.scanned < listing.depth:
        print(f"(only the first {listing.scanned} were read: --max-messages)")
    for number, entry in enumerate(listing.entries, start=1):
        print()
        print(format_entry(number, entry))


def print_depths(depths: dict[str, int | None], topology: Topology, as_json: bool) -> None:
    if as_json:
        print(json.dumps({topology.dlq(base): n for base, n in depths.items()}, indent=2))
        return
    for base, count in depths.items():
        shown = "not declared" if count is None else f"{count} messages"
        print(f"{topology.dlq(base)}: {shown}")


def print_outcome(verb: str, outcome: Outcome, as_json: bool) -> None:
    if as_json:
        data = {
            "dlq": outcome.dlq,
            "depth": outcome.depth,
            "matched": [e.id for e in outcome.matched],
            verb: [e.id for e in outcome.done],
            "error": outcome.error,
        }
        print(json.dumps(data, indent=2))
    else:
        print(f"{verb} {len(outcome.done)} of {len(outcome.matched)} selected in {outcome.dlq}")
        for entry in outcome.done:
            print(f"  {entry.id}  {entry.routing_key or '-'}  {entry.reason[:80]}")
    if outcome.error:
        print(f"error: {outcome.error}", file=sys.stderr)
    elif not outcome.matched:
        print(f"nothing in {outcome.dlq} matches the selection", file=sys.stderr)


# -- commands ---------------------------------------------------------------------------


async def _list(args: argparse.Namespace, topology: Topology) -> int:
    if args.queue is None:
        print_depths(await dead_letter_depths(args.amqp_url, topology), topology, args.json)
        return OK
    base = resolve_queue(topology, args.queue)
    listing = await list_dead_letters(
        args.amqp_url, topology, base, args.limit, max_messages=args.max_messages
    )
    print_listing(listing, args.json)
    return OK


async def _replay(args: argparse.Namespace, topology: Topology) -> int:
    base, chosen = resolve_queue(topology, args.queue), selection(args)
    outcome = await replay(args.amqp_url, topology, base, chosen, max_messages=args.max_messages)
    print_outcome("replayed", outcome, args.json)
    return OK if outcome.done and not outcome.error else FAILED


async def _discard(args: argparse.Namespace, topology: Topology) -> int:
    base, chosen = resolve_queue(topology, args.queue), selection(args)
    if not args.who.strip():
        raise UsageError("say who is discarding: --who (no $USER to default to)")
    prefix = args.redis_prefix or redis_prefix(args.namespace)
    redis = Redis.from_url(args.redis_url)
    try:
        outcome = await discard(
            args.amqp_url,
            topology,
            base,
            chosen,
            reason=args.reason,
            who=args.who,
            redis=redis,
            redis_prefix=prefix,
            max_messages=args.max_messages,
        )
    finally:
        await redis.aclose()
    print_outcome("discarded", outcome, args.json)
    return OK if outcome.done and not outcome.error else FAILED


COMMANDS = {"list": _list, "replay": _replay, "discard": _discard}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("dlq-cli", level=os.environ.get("BS_LOG_LEVEL", "INFO"))
    for library in ("aio_pika", "aiormq"):
        logging.getLogger(library).setLevel(logging.WARNING)
    topology = Topology(namespace=args.namespace)
    try:
        return asyncio.run(COMMANDS[args.command](args, topology))
    except (UsageError, UnknownQueueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except DeadLetterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    except BROKER_ERRORS as exc:
        print(f"error: RabbitMQ: {exc!r} (nothing more was done)", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
