"""Apply a clinic policy file: validate it, then publish ``clinic.policy.changed`` to the
inbound exchange, as the clinic's EHR would, and wait for the broker's confirm.

    python -m scheduler.policy_cli check policies/example.yaml
    python -m scheduler.policy_cli apply policies/example.yaml \\
        [--amqp-url URL] [--namespace NS] [--clinic CLINIC_ID]

``--amqp-url`` and ``--namespace`` default to SCHEDULER_AMQP_URL and SCHEDULER_NAMESPACE.
Exit status: 0 valid (check) or confirmed (apply); 1 the broker did not take it;
2 the file or the options are invalid, in which case nothing is published.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import aio_pika
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, PublishError
from pydantic import ValidationError

from scheduler.policy_file import MAX_BYTES, PolicyFileError, describe, parse_policy_file
from scheduler.settings import SchedulerSettings
from shared.broker import event_message
from shared.contracts import ClinicPolicyChanged
from shared.tenancy import connection_user
from shared.topology import PUBLISH_TO, Topology

OK, UNCONFIRMED, INVALID = 0, 1, 2


class NotConfirmed(Exception):
    """The broker could not be reached, or did not route and confirm the event."""


async def publish_confirmed(
    amqp_url: str, topology: Topology, event: ClinicPolicyChanged, wait: float
) -> None:
    """Publish persistent and mandatory on a confirming channel: returns only once the
    broker has routed the event to at least one queue and confirmed it."""
    tag = event.type_tag()
    # Signed as the connection's user (the broker checks it): accepted where the
    # services bind publishers to their clinics (*_TENANTS), harmless where they do not.
    message = event_message(event, connection_user(amqp_url))
    try:
        connection = await aio_pika.connect(amqp_url, timeout=wait)
    except (AMQPError, OSError, TimeoutError) as exc:
        raise NotConfirmed(f"cannot connect to {_host(amqp_url)}: {exc!r}") from None
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        for base in PUBLISH_TO[tag]:
            name = topology.exchange(base)
            try:
                exchange = await channel.get_exchange(name)  # passive: it must exist
                await exchange.publish(message, routing_key=tag, mandatory=True, timeout=wait)
            except ChannelNotFoundEntity:
                raise NotConfirmed(
                    f"exchange {name!r} does not exist (wrong --namespace, or no service has "
                    "started yet)"
                ) from None
            except PublishError:
                raise NotConfirmed(
                    f"no queue is bound for {tag!r} on {name!r}: start the scheduler first"
                ) from None
            except (AMQPError, TimeoutError) as exc:
                raise NotConfirmed(f"the broker did not confirm the event: {exc!r}") from None


def _host(url: str) -> str:
    """Where we connect, without the credentials (they must not reach a terminal log)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bs-policy", description="Validate or apply a clinic reminder policy file."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("check", "validate the file and print what would be published"),
        ("apply", "validate the file, then publish it and wait for the broker's confirm"),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("file", type=Path, help="policy YAML (see policies/example.yaml)")
        sub.add_argument("--clinic", help="clinic id; overrides the file's clinic_id")
        if name == "apply":
            sub.add_argument("--amqp-url", help="default: SCHEDULER_AMQP_URL")
            sub.add_argument("--namespace", help="default: SCHEDULER_NAMESPACE")
            sub.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    return parser


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)  # the parser reports a file that is too large
    except OSError as exc:
        raise PolicyFileError([f"file: cannot read {str(path)!r}: {exc.strerror}"]) from None


def _settings(args: argparse.Namespace) -> SchedulerSettings:
    given = {"amqp_url": args.amqp_url, "namespace": args.namespace}
    try:
        return SchedulerSettings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise PolicyFileError([describe(e) for e in exc.errors()]) from None


def _summary(event: ClinicPolicyChanged) -> str:
    p = event.policy
    return (
        f"clinic={event.clinic_id} policy={p.policy_id} version={p.version} "
        f"event_id={event.event_id}"
    )


def run(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    try:
        event = parse_policy_file(_read(args.file), args.clinic)
        settings = _settings(args) if args.command == "apply" else None
    except PolicyFileError as exc:
        count = len(exc.problems)
        print(f"{args.file}: {count} problem{'s' * (count != 1)}; nothing published", file=err)
        for problem in exc.problems:
            print(f"  - {problem}", file=err)
        return INVALID
    if settings is None:
        print(f"valid: {_summary(event)}", file=out)
        return OK
    topology = Topology(namespace=settings.namespace)
    # aio-pika logs a connection failure with a traceback; the message below says it once.
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        asyncio.run(publish_confirmed(settings.amqp_url, topology, event, args.timeout))
    except NotConfirmed as exc:
        print(f"{args.file}: not applied: {exc}", file=err)
        return UNCONFIRMED
    print(f"published and confirmed: {_summary(event)}", file=out)
    # The scheduler keeps the highest version it has seen; say so, as it is easy to forget.
    print("note: services ignore a policy whose version is not above the current one", file=out)
    return OK


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
