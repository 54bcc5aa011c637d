"""CPU per message of the layers every message goes through (FastStream, the handling
middleware, validation, the summary log line, metrics, the publisher).

    python3 -m uv run --frozen python bench/overhead_bench.py [--count 5000] [--before HEAD]

Each variant runs in its own process (uvloop, as the services run) on a queue in a
unique namespace, prefilled with ``--count`` internal events (reminder.due,
notification.dispatched and delivery.status.changed in turn, the tracker's usual mix);
CPU is the process's own (``time.process_time``) from the ``--warmup``-th message to
the last, divided by the messages; of ``--repeat`` runs the least is reported (other
work on a shared machine only adds to a run's CPU), with the median beside it:
  consume/in-process     what ``consume/service`` runs, without RabbitMQ: each message
                         (as aio-pika delivers it) goes straight to the subscriber's
                         ``consume``, one at a time, under FastStream's test broker (its
                         call recorder adds the same few µs to either side); FastStream's
                         and our layers only, far steadier than the runs on the broker
  consume/service        ``Service.subscriber`` on a ``Service`` broker: the handling
                         middleware, the decoder and validation, one JSON summary line per
                         message (to /dev/null), metrics; the handler only counts
  consume/service-quiet  the same at log level WARNING (no summary line): logging's share
  consume/faststream     a bare ``RabbitBroker`` (no middleware, no logger), the same
                         handler: FastStream's own floor
  consume/aio-pika       aio-pika, ``TypeAdapter.validate_json`` and an ack: the floor
  publish/service        ``service.publisher.publish(event)``, 64 in flight, confirmed
  publish/aio-pika       the same bodies with aio-pika on a confirming channel
With ``--before REV`` every variant also runs against the ``shared`` package of git
revision REV (``git archive``, put first on PYTHONPATH), interleaved with the current
code, and the result gives current/before ratios. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Module level: the handlers' annotations are resolved in this module's globals.
from shared.contracts import InternalEvent

if TYPE_CHECKING:
    from shared.service import Service

ROOT = Path(__file__).resolve().parents[1]
CONSUME = ("in-process", "service", "service-quiet", "faststream", "aio-pika")
PUBLISH = ("service", "aio-pika")
KINDS = ("reminder.due", "notification.dispatched", "delivery.status.changed")
IN_FLIGHT = 64


# -- one variant, in its own process -------------------------------------------------------
def bodies(count: int) -> list[tuple[str, bytes]]:
    from shared.contracts.examples import examples

    found = examples()
    events = [found[kind] for kind in KINDS]
    return [
        (e.type_tag(), e.model_copy(update={"event_id": uuid.uuid4()}).model_dump_json().encode())
        for e in (events[i % len(events)] for i in range(count))
    ]


class Clock:
    """Process CPU from the ``start``-th call of ``tick`` to the ``end``-th."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end, self.seen = start, end, 0
        self.cpu0 = self.wall0 = 0.0
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.seen += 1
        if self.seen == self.start:
            self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        elif self.seen == self.end:
            self.cpu_s = time.process_time() - self.cpu0
            self.wall_s = time.perf_counter() - self.wall0
            self.done.set()

    def result(self) -> dict[str, float]:
        n = self.end - self.start
        return {
            "messages": n,
            "cpu_us_per_message": round(1e6 * self.cpu_s / n, 1),
            "per_s": round(n / self.wall_s),
        }


def service(log_level: str) -> Service:
    from shared.contracts import (
        DeliveryStatusChanged,
        Event,
        NotificationDispatched,
        ReminderDue,
    )
    from shared.logging import configure_logging
    from shared.service import Service
    from shared.settings import ServiceSettings

    settings = ServiceSettings(namespace=f"ovh-{uuid.uuid4().hex[:10]}", log_format="json")
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 (kept for the run)
    try:
        configure_logging("bench", log_level, "json")
    finally:
        sys.stderr = stderr
    publishes: list[type[Event]] = [ReminderDue, NotificationDispatched, DeliveryStatusChanged]
    return Service("bench", settings, ("tracker.events",), publishes)


async def prefill(amqp_url: str, queue: str, messages: list[tuple[str, bytes]]) -> None:
    import aio_pika

    from shared.handling import ROUTING_KEY_HEADER

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for i in range(0, len(messages), 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/json",
                            headers={ROUTING_KEY_HEADER: tag},
                            message_id=str(uuid.uuid4()),
                        ),
                        routing_key=queue,
                    )
                    for tag, body in messages[i : i + 500]
                )
            )


async def consume(variant: str, count: int, warmup: int) -> dict[str, Any]:
    from faststream import AckPolicy
    from faststream.rabbit import RabbitBroker

    from shared.broker import declare_with_connection, delete_topology, rabbit_queue
    from shared.contracts import internal_event_adapter
    from shared.handling import add_to_summary

    svc = service("WARNING" if variant == "service-quiet" else "INFO")
    settings, topology = svc.settings, svc.topology
    await declare_with_connection(settings.amqp_url, topology, svc.consumes)
    queue = topology.queue("tracker.events")
    await prefill(settings.amqp_url, queue, bodies(count + warmup))
    clock = Clock(warmup, warmup + count)
    try:
        if variant == "aio-pika":
            await _consume_aio_pika(settings.amqp_url, queue, clock, internal_event_adapter)
        else:

            async def handle(event: InternalEvent) -> None:
                add_to_summary(kind=event.type)
                clock.tick()

            broker: RabbitBroker = svc.broker
            if variant == "faststream":
                broker = RabbitBroker(settings.amqp_url, logger=None)
                broker.subscriber(
                    rabbit_queue(topology, "tracker.events"), ack_policy=AckPolicy.NACK_ON_ERROR
                )(handle)
            else:
                svc.subscriber("tracker.events", "bench")(handle)

            async with broker:
                await broker.start()
                await asyncio.wait_for(clock.done.wait(), 600)
    finally:
        await delete_topology(settings.amqp_url, topology)
    return clock.result()


async def consume_in_process(count: int, warmup: int) -> dict[str, Any]:
    from faststream.rabbit import TestRabbitBroker
    from faststream.rabbit.testing import build_message

    from shared.handling import ROUTING_KEY_HEADER, add_to_summary

    svc = service("INFO")
    clock = Clock(warmup, warmup + count)

    @svc.subscriber("tracker.events", "bench")
    async def handle(event: InternalEvent) -> None:
        add_to_summary(kind=event.type)
        clock.tick()

    queue = svc.topology.queue("tracker.events")
    messages = [
        await build_message(
            body,
            queue,
            content_type="application/json",
            headers={ROUTING_KEY_HEADER: tag},
            correlation_id=str(uuid.uuid4()),
            message_id=str(uuid.uuid4()),
        )
        for tag, body in bodies(count + warmup)
    ]
    async with TestRabbitBroker(svc.broker):
        [subscriber] = [
            s
            for s in svc.broker.subscribers
            if getattr(getattr(s, "queue", None), "name", None) == queue
        ]
        for message in messages:
            await subscriber.consume(message)
    return clock.result()


async def _consume_aio_pika(url: str, queue: str, clock: Clock, adapter: Any) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=64)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            adapter.validate_json(message.body)
            await message.ack()
            clock.tick()

        await (await channel.get_queue(queue)).consume(on_message)
        await asyncio.wait_for(clock.done.wait(), 600)


async def publish(variant: str, count: int, warmup: int) -> dict[str, Any]:
    import aio_pika

    from shared.broker import declare_with_connection, delete_topology, event_message
    from shared.contracts.examples import examples
    from shared.topology import PUBLISH_TO

    svc = service("INFO")
    settings, topology = svc.settings, svc.topology
    await declare_with_connection(settings.amqp_url, topology, svc.consumes)
    found = examples()
    events = [
        found[KINDS[i % 3]].model_copy(update={"event_id": uuid.uuid4()})
        for i in range(count + warmup)
    ]
    send: Callable[[Any], Awaitable[None]]
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        if variant == "aio-pika":
            channel = await connection.channel(publisher_confirms=True)
            exchanges = {
                tag: await channel.get_exchange(topology.exchange(PUBLISH_TO[tag][0]))
                for tag in KINDS
            }

            async def send(event: Any) -> None:
                await exchanges[event.type_tag()].publish(
                    event_message(event), routing_key=event.type_tag()
                )
        else:
            await svc.broker.start()
            send = svc.publisher.publish
        await _in_batches(send, events[:warmup])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await _in_batches(send, events[warmup:])
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await svc.broker.stop()
        await connection.close()
        await delete_topology(settings.amqp_url, topology)
    return {
        "messages": count,
        "cpu_us_per_message": round(1e6 * cpu_s / count, 1),
        "per_s": round(count / wall_s),
    }


async def _in_batches(send: Callable[[Any], Awaitable[None]], events: list[Any]) -> None:
    for i in range(0, len(events), IN_FLIGHT):
        await asyncio.gather(*(send(e) for e in events[i : i + IN_FLIGHT]))


def run_one(what: str, variant: str, count: int, warmup: int) -> dict[str, Any]:
    import uvloop

    if variant == "in-process":
        return uvloop.run(consume_in_process(count, warmup))
    work = consume if what == "consume" else publish
    return uvloop.run(work(variant, count, warmup))


# -- the driver --------------------------------------------------------------------------------
def shared_of(rev: str, into: Path) -> Path:
    """The ``shared`` package as it was at ``rev`` (read from git; the index is untouched)."""
    archive = into / "shared.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", rev, "shared/src/shared"], cwd=ROOT, stdout=out, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "shared" / "src"


def child(what: str, variant: str, args: argparse.Namespace, path: Path | None) -> dict[str, Any]:
    env = dict(os.environ, BS_DEV_MODE="true")
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    command = [sys.executable, __file__, "--run", what, variant, "--count", str(args.count)]
    command += ["--warmup", str(args.warmup)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(args: argparse.Namespace) -> dict[str, Any]:
    plan = [("consume", v) for v in CONSUME] + [("publish", v) for v in PUBLISH]
    plan = [p for p in plan if not args.only or f"{p[0]}/{p[1]}" in args.only]
    trees: dict[str, Path | None] = {"current": None}
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp:
        if args.before:
            trees[f"before ({args.before})"] = shared_of(args.before, Path(tmp))
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {t: {} for t in trees}
        for _ in range(args.repeat):
            for what, variant in plan:
                for tree, path in trees.items():  # interleaved: drift hits both alike
                    got = child(what, variant, args, path)
                    runs[tree].setdefault(f"{what}/{variant}", []).append(got)
    report: dict[str, Any] = {"bench": "overhead", "count": args.count, "repeat": args.repeat}
    for tree, results in runs.items():
        report[tree] = {name: summarize(found) for name, found in results.items()}
    if args.before:
        before = report[f"before ({args.before})"]
        report["ratio_current_to_before"] = {
            name: round(figures["cpu_us_per_message"] / before[name]["cpu_us_per_message"], 2)
            for name, figures in report["current"].items()
            if "cpu_us_per_message" in figures and "cpu_us_per_message" in before.get(name, {})
        }
    report["machine"] = {"cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    return report


def summarize(found: list[dict[str, Any]]) -> dict[str, Any]:
    good = [f for f in found if "cpu_us_per_message" in f]
    if not good:
        return found[0]
    cpu = [f["cpu_us_per_message"] for f in good]
    # The least: other work on a shared machine only ever adds to a run's CPU.
    return {
        "cpu_us_per_message": min(cpu),
        "median_cpu_us": round(statistics.median(cpu), 1),
        "runs_cpu_us": cpu,
        "per_s": round(statistics.median(f["per_s"] for f in good)),
    }


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=5000, help="measured messages per variant")
    p.add_argument("--warmup", type=int, default=300, help="messages before measuring")
    p.add_argument("--repeat", type=int, default=3, help="runs per variant (median reported)")
    p.add_argument("--before", metavar="REV", help="also run the shared package of REV")
    p.add_argument("--only", nargs="*", help="variants to run, e.g. consume/service")
    p.add_argument("--run", nargs=2, metavar=("WHAT", "VARIANT"), help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.run:
        what, variant = arguments.run
        print(json.dumps(run_one(what, variant, arguments.count, arguments.warmup)))
    else:
        print(json.dumps(main(arguments), indent=1))
