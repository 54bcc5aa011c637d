"""Throughput, lateness, memory and claim cost of the scheduler, with the scheduler as a
real process on the real RabbitMQ and Redis (unique namespace, cleaned up). Prints one
JSON object.

    python3 -m uv run --frozen python bench/scheduler_bench.py [--quick]

Phases, in one run so that they share the machine's conditions:
- yardstick: the broker's raw confirmed-publish rate: aio-pika in a process of its own
  (as the scheduler is), persistent, same body size, same number awaiting a confirm, to
  the same exchange, routing key and consuming queue;
- ingest: assignment events published -> the clients' timers committed in Redis, then
  Redis bytes per pending reminder (MEMORY USAGE of every scheduler key / timers);
- warmup, then steady: reminders due at a steady rate (one every ms by default), filled
  straight into the timer store; lateness = received by a consumer - planned time;
- burst: reminders due in the same second; fired, lost and duplicated counted by
  reminder id, fire rate = fired / (last received - due), and its ratio to the yardstick;
- claim: one CLAIM call returning a batch, with few versus many pending timers (in a
  separate key space the running scheduler does not see).
Lateness is measured at a consumer of ``reminder.due``, so it includes the broker's
delivery: an upper bound on "confirmed publish - planned". The scheduler's own histogram
of that (``bs_scheduler_lateness_seconds``) and its CPU time per reminder are reported
beside it for the steady and burst phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aio_pika
import httpx
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from redis.asyncio import Redis

from scheduler.firing import reminder_event
from scheduler.keys import Keys
from scheduler.replan import fire_info
from scheduler.store import TimerStore
from shared.broker import delete_topology, publish_event
from shared.contracts import ActivityAssigned, ClinicPolicyChanged, new_envelope
from shared.contracts.examples import example_policy
from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.ids import TimerMember
from shared.topology import Exchange, Topology
from tests.scheduler.support import assignment_at
from tests.support.infra import (
    AMQP_URL,
    REDIS_URL,
    delete_redis_namespace,
    unique_namespace,
    wait_for,
)
from tests.support.system import ServiceProc, System, running_system

SHARDS = 16
IN_FLIGHT = 256  # the scheduler's publish_concurrency default
CLAIM_BATCH = 500  # the scheduler's claim_batch default
INGEST_CLINIC, FIRE_CLINIC, RAW_CLINIC = "clinic-ingest", "clinic-fire", "clinic-raw0"
JSON = "application/json"
LATENESS_BUCKET = "bs_scheduler_lateness_seconds_bucket"


@dataclass
class Observer:
    """Every reminder.due, with the time it arrived; parsed after the phase."""

    arrivals: list[tuple[float, bytes]] = field(default_factory=list)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.arrivals.append((time.time(), message.body))

    def since(self, mark: int, clinic: str) -> list[tuple[float, dict[str, Any]]]:
        rows = ((t, json.loads(body)) for t, body in self.arrivals[mark:])
        return [(t, r) for t, r in rows if r.get("clinic_id") == clinic]


async def observe(channel: AbstractChannel, topology: Topology) -> Observer:
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.exchange(Exchange.INTERNAL), routing_key="reminder.due")
    observer = Observer()
    await queue.consume(observer.on_message, no_ack=True)
    return observer


async def in_flight(jobs: Iterator[Any], limit: int) -> None:
    """Await coroutines with at most ``limit`` pending, like the scheduler's semaphore."""
    slots = asyncio.Semaphore(limit)

    async def one(job: Any) -> None:
        async with slots:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


# -- yardstick ------------------------------------------------------------------------


def sample_body(clinic: str = FIRE_CLINIC) -> bytes:
    """A reminder.due body as the scheduler sends it (same size)."""
    member = TimerMember(
        f"{clinic}/asg-100000", date.today(), ReminderPurpose.REMINDER, "0900", now()
    )
    event, _ = reminder_event(member, fire_info_for(100000).encode())
    return event.model_dump_json().encode()


async def yardstick(namespace: str, count: int) -> float:
    """Raw confirmed publishes from a process of its own (like the scheduler) to the same
    exchange, routing key and consumer, persistent, ``IN_FLIGHT`` awaiting a confirm."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).exchange(Exchange.INTERNAL))
        body = sample_body(RAW_CLINIC)

        def message() -> aio_pika.Message:
            return aio_pika.Message(  # the properties the scheduler's publisher sets
                body,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type=JSON,
                message_id=str(uuid.uuid4()),
                correlation_id=str(uuid.uuid4()),
            )

        started = time.perf_counter()
        jobs = (
            exchange.publish(message(), routing_key="reminder.due", mandatory=False)
            for _ in range(count)
        )
        await in_flight(jobs, IN_FLIGHT)
        return count / (time.perf_counter() - started)


async def raw_publish_rate(namespace: str, count: int) -> float:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--yardstick-child",
        namespace,
        "--raw",
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    return float(json.loads(out)["rate"])


# -- ingest and memory ------------------------------------------------------------------


async def ingest(
    channel: AbstractChannel, topology: Topology, redis: Redis, keys: Keys, count: int
) -> dict[str, Any]:
    policy = example_policy().model_copy(update={"policy_id": "pol-1"})
    await publish_event(
        channel,
        topology,
        ClinicPolicyChanged(**new_envelope(), clinic_id=INGEST_CLINIC, policy=policy),
    )
    await asyncio.sleep(0.5)
    at = now() + timedelta(hours=1)
    events = [
        assignment_at(n, at).model_copy(update={"clinic_id": INGEST_CLINIC}) for n in range(count)
    ]
    started = time.perf_counter()
    await in_flight((publish_event(channel, topology, e) for e in events), IN_FLIGHT)

    async def planned() -> bool:
        return await clients_planned(redis, keys) >= count

    await wait_for(planned, timeout=60 + count / 20)
    seconds = time.perf_counter() - started
    return {
        "events": count,
        "seconds": round(seconds, 2),
        "events_per_second": round(count / seconds, 1),
    }


async def clients_planned(redis: Redis, keys: Keys) -> int:
    pipe = redis.pipeline(transaction=False)
    for shard in keys.shards():
        pipe.zcard(shard.clients)
    return sum(int(n) for n in await pipe.execute())


async def bytes_per_pending(redis: Redis, keys: Keys) -> dict[str, Any]:
    """MEMORY USAGE (exact: SAMPLES 0) of every scheduler key, per pending timer."""
    names = [k.decode() async for k in redis.scan_iter(match=f"{keys.base}*", count=1000)]
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    by_kind: Counter[str] = Counter()
    for name, size in zip(names, await pipe.execute(), strict=True):
        by_kind[key_kind(name)] += int(size or 0)
    pipe = redis.pipeline(transaction=False)
    for shard in keys.shards():
        pipe.zcard(shard.due)
    timers = max(1, sum(int(n) for n in await pipe.execute()))
    return {
        "pending_timers": timers,
        "bytes_per_pending_reminder": round(sum(by_kind.values()) / timers, 1),
        "breakdown_bytes_per_timer": {k: round(v / timers, 1) for k, v in by_kind.items()},
    }


def key_kind(name: str) -> str:
    """due / fire / clients / client state / seen / policy: what each key is for."""
    tail = name.rsplit("}", 1)[-1] if "}" in name else name
    for kind in ("due", "fire", "clients"):
        if tail == f":{kind}":
            return kind
    if tail.startswith(":c:"):
        return "client_state"
    return "seen_events" if ":seen:" in name else "policies"


# -- filling the timer store directly -------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


TEMPLATE: ActivityAssigned = assignment_at(0, datetime(2026, 1, 1, 9, tzinfo=UTC))


def fire_info_for(n: int) -> str:
    return fire_info(f"cl-{n}", 1, TEMPLATE, "pol-1")


async def fill(redis: Redis, keys: Keys, first: int, dues_ms: list[int], clinic: str) -> None:
    """Timers (and their fire info) as a commit would leave them, pipelined by shard."""
    due: dict[int, dict[str, int]] = {}
    info: dict[int, dict[str, str]] = {}
    for i, ms in enumerate(dues_ms, start=first):
        key = f"{clinic}/asg-{i}"
        at = datetime.fromtimestamp(ms / 1000, UTC)
        shard = keys.shard_of(f"{clinic}/cl-{i}")
        member = TimerMember(key, at.date(), ReminderPurpose.REMINDER, "0900", at)
        due.setdefault(shard, {})[member.encode()] = ms
        info.setdefault(shard, {})[key] = fire_info_for(i)
    pipe = redis.pipeline(transaction=False)
    for shard, members in due.items():
        for chunk in chunks(list(members.items()), 5000):
            pipe.zadd(keys.shard(shard).due, dict(chunk))
        for chunk in chunks(list(info[shard].items()), 5000):
            pipe.hset(keys.shard(shard).fire, mapping=dict(chunk))
    await pipe.execute()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- firing phases --------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fire_phase(
    redis: Redis, keys: Keys, observer: Observer, dues_ms: list[int], first: int
) -> dict[str, Any]:
    """Fill ``dues_ms`` timers, wake the scheduler, wait until all arrive (or time out)."""
    mark = len(observer.arrivals)
    filled_at = time.time()
    await fill(redis, keys, first, dues_ms, FIRE_CLINIC)
    fill_seconds = time.time() - filled_at
    await TimerStore(redis, keys).wake_others()
    count, last_due = len(dues_ms), max(dues_ms) / 1000
    wait = last_due - time.time() + 60 + count / 1000
    with contextlib.suppress(AssertionError):  # reported as lost
        await wait_for(lambda: len(observer.arrivals) - mark >= count, timeout=wait, interval=0.1)
    await asyncio.sleep(1.5)  # duplicates would arrive by now
    return summarise(observer.since(mark, FIRE_CLINIC), count, min(dues_ms) / 1000, fill_seconds)


def summarise(
    rows: list[tuple[float, dict[str, Any]]], count: int, first_due: float, fill_seconds: float
) -> dict[str, Any]:
    ids = Counter(r["reminder_id"] for _, r in rows)
    late = [(t - datetime.fromisoformat(r["planned_for"]).timestamp()) * 1000 for t, r in rows]
    last = max((t for t, _ in rows), default=first_due)
    return {
        "reminders": count,
        "fired": len(ids),
        "lost": count - len(ids),
        "duplicated": sum(ids.values()) - len(ids),
        "lateness_ms_p50": rnd(percentile(late, 0.50)),
        "lateness_ms_p99": rnd(percentile(late, 0.99)),
        "lateness_ms_max": rnd(max(late, default=None)),
        "seconds_from_first_due_to_last": round(last - first_due, 3),
        "fill_seconds": round(fill_seconds, 2),
    }


def rnd(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def steady(
    redis: Redis, keys: Keys, observer: Observer, rate: int, seconds: int, first: int
) -> dict[str, Any]:
    start_ms = int((time.time() + 3) * 1000)
    dues = [start_ms + int(i * 1000 / rate) for i in range(rate * seconds)]
    result = await fire_phase(redis, keys, observer, dues, first=first)
    return {"rate_per_second": rate, "seconds": seconds, **result}


async def burst(redis: Redis, keys: Keys, observer: Observer, count: int) -> dict[str, Any]:
    due_ms = int((time.time() + 3 + count / 20_000) * 1000)  # the fill takes ~1 s per 25k
    result = await fire_phase(redis, keys, observer, [due_ms] * count, first=2_000_000)
    span = result["seconds_from_first_due_to_last"]
    result["fire_rate_per_second"] = round(result["fired"] / span, 1) if span > 0 else None
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def lateness_buckets(base_url: str) -> dict[float, float]:
    """The scheduler's own lateness histogram (confirmed publish - planned): le -> count."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base_url}/metrics", timeout=5)).text
    rows = (line for line in text.splitlines() if line.startswith(LATENESS_BUCKET))
    return {float(r.split('le="')[1].split('"')[0]): float(r.rsplit(" ", 1)[1]) for r in rows}


def bucket_percentile(
    before: dict[float, float], after: dict[float, float], q: float
) -> float | None:
    """Upper bound (ms) of the bucket holding the q-quantile of what was observed between;
    None past the largest finite bucket (60 s)."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts[float("inf")]
    bound = next(le for le, n in counts.items() if n >= q * total)
    return bound * 1000 if bound != float("inf") else None


async def measured(service: ServiceProc, phase: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The phase's result plus, from the scheduler itself, its CPU time per reminder and
    its lateness at the publisher confirm (histogram buckets: an upper bound)."""
    assert service.proc is not None
    cpu, buckets = cpu_seconds(service.proc.pid), await lateness_buckets(service.base_url)
    result = await phase
    used_ms = (cpu_seconds(service.proc.pid) - cpu) * 1000
    after = await lateness_buckets(service.base_url)
    return {
        **result,
        "scheduler_cpu_ms_per_reminder": round(used_ms / result["reminders"], 3),
        "confirmed_lateness_ms_p50_at_most": bucket_percentile(buckets, after, 0.50),
        "confirmed_lateness_ms_p99_at_most": bucket_percentile(buckets, after, 0.99),
    }


# -- claim cost -----------------------------------------------------------------------


async def claim_cost(redis: Redis, pending: int, repeats: int = 25) -> dict[str, Any]:
    """One CLAIM returning a full batch, with ``pending`` timers in the claimed shard."""
    keys = Keys(f"{unique_namespace('bench')}:bs:scheduler", 1)
    store = TimerStore(redis, keys)
    shard = keys.shard(0)
    far = int((time.time() + 365 * 86400) * 1000)
    for start in range(0, pending - CLAIM_BATCH, 50_000):
        stop = min(start + 50_000, pending - CLAIM_BATCH)
        pipe = redis.pipeline(transaction=False)
        for chunk in chunks(list(range(start, stop)), 10_000):
            pipe.zadd(shard.due, {f"c/asg-{i}|20270101|r|0900|{far}": far + i for i in chunk})
        await pipe.execute()
    past = int((time.time() - 1) * 1000)
    batch = [f"{FIRE_CLINIC}/asg-{i}|20260101|r|0900|{past}" for i in range(CLAIM_BATCH)]
    await redis.hset(
        shard.fire, mapping={f"{FIRE_CLINIC}/asg-{i}": fire_info_for(i) for i in range(CLAIM_BATCH)}
    )
    times = []
    try:
        for _ in range(repeats):
            await redis.zadd(shard.due, dict.fromkeys(batch, past))
            started = time.perf_counter()
            claimed = await store.claim(0, CLAIM_BATCH, 30_000)
            times.append((time.perf_counter() - started) * 1000)
            assert len(claimed.members) == CLAIM_BATCH
        size = int(await redis.zcard(shard.due))
    finally:
        await redis.unlink(shard.due, shard.fire)  # UNLINK: a 1M-member zset is freed off-thread
    return {
        "pending": size,
        "claim_ms_median": round(statistics.median(times), 2),
        "claim_ms_min": round(min(times), 2),
    }


# -- the run --------------------------------------------------------------------------


@contextmanager
def scheduler_process(namespace: str, parallel: int | None = None) -> Iterator[System]:
    env = {"SCHEDULER_LOG_LEVEL": "WARNING", "SCHEDULER_SHARD_COUNT": str(SHARDS)}
    if parallel is not None:
        env["SCHEDULER_FIRE_PARALLEL_SHARDS"] = str(parallel)
    with running_system(
        namespace,
        AMQP_URL,
        REDIS_URL,
        Path(tempfile.mkdtemp(prefix="sched-bench-")),
        {"scheduler": env},
        ("scheduler",),
    ) as system:
        yield system


async def fire_phases(
    out: dict[str, Any],
    service: ServiceProc,
    redis: Redis,
    keys: Keys,
    observer: Observer,
    args: argparse.Namespace,
) -> None:
    # The first second of firing in a fresh process is slower (connection pools grow,
    # first publishes): reported apart, so steady means steady.
    out["warmup"] = await steady(redis, keys, observer, args.rate, 2, first=500_000)
    out["steady"] = await measured(
        service, steady(redis, keys, observer, args.rate, args.steady_seconds, 1_000_000)
    )
    out["burst"] = await measured(service, burst(redis, keys, observer, args.burst))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    namespace = unique_namespace("bench")
    topology = Topology(namespace=namespace)
    keys = Keys(f"{namespace}:bs:scheduler", SHARDS)
    redis = Redis.from_url(REDIS_URL)
    connection = await aio_pika.connect(AMQP_URL)
    load_before = os.getloadavg()
    out: dict[str, Any] = {"bench": "scheduler", "quick": args.quick}
    try:
        with scheduler_process(namespace, args.parallel) as system:
            service = system.procs["scheduler"]
            channel = await connection.channel()
            observer = await observe(channel, topology)
            raw = await raw_publish_rate(namespace, args.raw)
            out["raw_confirmed_publish_per_second"] = round(raw, 1)
            out["message_bytes"] = len(sample_body())
            assert service.proc is not None
            cpu = cpu_seconds(service.proc.pid)
            out["ingest"] = await ingest(channel, topology, redis, keys, args.ingest)
            used_ms = (cpu_seconds(service.proc.pid) - cpu) * 1000
            out["ingest"]["scheduler_cpu_ms_per_event"] = round(used_ms / args.ingest, 3)
            out["memory"] = await bytes_per_pending(redis, keys)
            if not args.ingest_only:
                await fire_phases(out, service, redis, keys, observer, args)
        if not args.ingest_only:
            rate = out["burst"]["fire_rate_per_second"]
            out["fire_to_raw_ratio"] = round(rate / raw, 3) if rate else None
            out["claim"] = [await claim_cost(redis, n) for n in args.claim_pending]
    finally:
        await connection.close()
        await delete_topology(AMQP_URL, topology)
        await delete_redis_namespace(REDIS_URL, namespace)
        await redis.aclose()
    out["loadavg_before"] = [round(x, 2) for x in load_before]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["cpus"] = os.cpu_count()
    return out


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller run (about a minute)")
    parser.add_argument("--parallel", type=int, default=None, help="SCHEDULER_FIRE_PARALLEL_SHARDS")
    parser.add_argument("--yardstick-child", metavar="NAMESPACE", help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=int, default=20_000)
    parser.add_argument("--ingest", type=int, default=2_000)
    parser.add_argument(
        "--ingest-only", action="store_true", help="only the yardstick, ingest and memory"
    )
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--steady-seconds", type=int, default=15)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--claim-pending", type=int, nargs="+", default=[1_000, 1_000_000])
    args = parser.parse_args()
    if args.quick:
        args.raw, args.ingest, args.steady_seconds, args.burst = 5_000, 500, 5, 20_000
        args.claim_pending = [1_000, 100_000]
    return args


if __name__ == "__main__":
    ARGS = arguments()
    if ARGS.yardstick_child:
        print(json.dumps({"rate": asyncio.run(yardstick(ARGS.yardstick_child, ARGS.raw))}))
    else:
        print(json.dumps(asyncio.run(main(ARGS))))
