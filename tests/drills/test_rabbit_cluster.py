"""Drill: two nodes of a three-node RabbitMQ cluster are SIGKILLed, one after the other,
while reminders flow.

Three RabbitMQ nodes of their own (never the machine's node) form a cluster before the
services start, so every quorum queue they declare has a member on each node. The
services, the EHR and the status listener reach the cluster through one TCP balancer,
as they would reach an L4 load balancer in production. A burst of reminders all due at
the same second, plus a steady flow of new assignments, runs through two outages: the
node leading the busiest queue is SIGKILLed and started again after the downtime, then
the same is done to another node. Counted: every reminder reaches the provider exactly
once, the tracker records every delivery status (``reminder.delivered`` to the EHR),
nothing is dead-lettered, and the services reconnect by themselves (same PIDs). The
retry tiers wait in quorum queues too (classic ones lived on one node, and a retry
published while it was down was dropped), so they are among the queues counted.

Sizes: ``BS_DRILL_CLUSTER_BURST`` (reminders due at once), ``BS_DRILL_CLUSTER_STEADY_PER_SECOND``
(assignments a second meanwhile), ``BS_DRILL_CLUSTER_DOWNTIME_SECONDS`` (per killed node).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web

from shared.topology import QUEUES, RETRY_TIERS, Exchange, RoutingKey, Topology
from tests.drills.reports import report as report_counts
from tests.drills.traffic import (
    Ehr,
    assign,
    delivered,
    drill_topology,
    errors_logged,
    log_records,
    notifier_env,
    onboard,
    one_reminder,
    pids,
    provider_counts,
    queue_depth,
)
from tests.fakes.twilio_api import FakeTwilio, SentSms, twilio_signature
from tests.scheduler.support import soon
from tests.support.infra import REDIS_URL, wait_for
from tests.support.rabbit_cluster import Balancer, ClusterNode, RabbitCluster, balancer
from tests.support.rabbit_cluster import rabbit_cluster as three_nodes
from tests.support.services import free_port
from tests.support.system import System, running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(900),
    # A burst drill: not beside the scheduler's 20,000-reminder burst (scripts/test.sh
    # runs the drills on two workers, one group per worker).
    pytest.mark.xdist_group("burst"),
]

BURST = int(os.environ.get("BS_DRILL_CLUSTER_BURST", "5000"))
STEADY_PER_SECOND = float(os.environ.get("BS_DRILL_CLUSTER_STEADY_PER_SECOND", "2"))
DOWNTIME = float(os.environ.get("BS_DRILL_CLUSTER_DOWNTIME_SECONDS", "60"))
STEADY_LEAD = 20.0  # a steady assignment's reminder is due this long after it is published
# Enough steady clients for the flow to last through both outages (with the restarts).
STEADY_POOL = int(STEADY_PER_SECOND * (2 * (DOWNTIME + 60) + 60))
BUSIEST_DEFAULT = "notifier.reminders"
NOISE = 100  # messages by which another queue must outnumber it to count as busier


@dataclass
class CallingTwilio(FakeTwilio):
    """The fake Twilio API that reports every accepted message ``delivered`` to the
    notifier's status webhook, again until the notifier answers 2xx (a webhook that
    cannot publish its event while the broker connection is being re-established
    answers 5xx; the drill counts how often)."""

    callback_retries: int = 0
    callbacks_done: int = 0
    _queue: asyncio.Queue[SentSms] = field(default_factory=asyncio.Queue)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None

    async def _create(self, request: web.Request) -> web.Response:
        response = await super()._create(request)
        if response.status == 201:
            self._queue.put_nowait(self.messages[-1])
        return response

    async def start(self) -> None:
        await super().start()
        self._session = aiohttp.ClientSession()
        self._workers = [asyncio.create_task(self._call_back()) for _ in range(16)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await super().stop()

    async def _call_back(self) -> None:
        assert self._session is not None
        while True:
            sms = await self._queue.get()
            params = {
                "AccountSid": self.account_sid,
                "MessageSid": sms.sid,
                "MessageStatus": "delivered",
                "To": sms.to,
                "From": sms.from_,
                "ApiVersion": "2010-04-01",
            }
            headers = {
                "X-Twilio-Signature": twilio_signature(self.auth_token, sms.status_callback, params)
            }
            while True:
                try:
                    async with self._session.post(
                        sms.status_callback, data=params, headers=headers
                    ) as response:
                        await response.read()
                        if response.status < 300:
                            break
                except aiohttp.ClientError:
                    pass
                self.callback_retries += 1
                await asyncio.sleep(0.5)
            self.callbacks_done += 1


@asynccontextmanager
async def calling_twilio() -> AsyncIterator[CallingTwilio]:
    twilio = CallingTwilio()
    await twilio.start()
    try:
        yield twilio
    finally:
        await twilio.stop()


@dataclass
class StatusListener:
    """The EHR's side of the outbound exchange: which clients' deliveries the tracker
    recorded. Its queue is a quorum queue, so a node's death does not take it along."""

    recorded: Counter[str] = field(default_factory=Counter)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.recorded[json.loads(message.body)["client_ref"]] += 1

    def count(self, clients: list[int]) -> int:
        return sum(1 for n in clients if f"cl-{n}" in self.recorded)

    def missing(self, clients: list[int]) -> list[int]:
        return [n for n in clients if f"cl-{n}" not in self.recorded]


@asynccontextmanager
async def status_listener(ehr: Ehr) -> AsyncIterator[StatusListener]:
    listener = StatusListener()
    name = f"{ehr.topology.namespace}.drill.ehr-outbound"
    queue = await ehr.channel.declare_queue(
        name, durable=True, arguments={"x-queue-type": "quorum"}
    )
    outbound = ehr.topology.exchange(Exchange.OUTBOUND)
    await queue.bind(outbound, routing_key=RoutingKey.REMINDER_DELIVERED.value)
    tag = await queue.consume(listener.on_message)
    try:
        yield listener
    finally:
        with contextlib.suppress(Exception):
            await queue.cancel(tag)
            await ehr.channel.queue_delete(name)


def namespaced(cluster: RabbitCluster, topology: Topology) -> dict[str, Any]:
    return {
        name: state
        for name, state in cluster.queues().items()
        if name.startswith(f"{topology.namespace}.")
    }


def quorum_members(cluster: RabbitCluster, topology: Topology) -> dict[str, int]:
    """Members per quorum queue of the drill's namespace (3 each is what we want)."""
    return {
        name: len(state.members)
        for name, state in namespaced(cluster, topology).items()
        if state.type == "quorum"
    }


def busiest_leader(
    cluster: RabbitCluster, topology: Topology, spare: set[str]
) -> tuple[ClusterNode, str, int]:
    """The node leading the quorum queue holding the most messages (not one in
    ``spare``). A few waiting messages are noise: every reminder crosses the notifier's
    reminders queue, so its leader goes first unless another queue is clearly fuller."""
    states = [s for s in namespaced(cluster, topology).values() if s.type == "quorum" and s.leader]
    candidates = [s for s in states if s.leader not in spare]
    if not candidates:
        raise AssertionError(f"every queue is led by {spare}")
    busiest = max(candidates, key=lambda s: s.messages)
    reminders = next((s for s in candidates if s.name == topology.queue(BUSIEST_DEFAULT)), None)
    if reminders is not None and busiest.messages < reminders.messages + NOISE:
        busiest = reminders
    assert busiest.leader is not None
    return cluster.node(busiest.leader), busiest.name, busiest.messages


def retry_tiers(cluster: RabbitCluster, topology: Topology) -> dict[str, Any]:
    """The retry tiers' queues: how many, of which type, with how many members."""
    tiers = [s for n, s in namespaced(cluster, topology).items() if ".bs.retry." in n]
    return {
        "queues": len(tiers),
        "types": sorted({str(s.type) for s in tiers}),
        "members": sorted({len(s.members) for s in tiers}),
    }


async def all_members_online(cluster: RabbitCluster, topology: Topology) -> bool:
    states = await asyncio.to_thread(namespaced, cluster, topology)
    return all(len(s.online) == len(cluster.nodes) for s in states.values() if s.type == "quorum")


async def outage(
    cluster: RabbitCluster, topology: Topology, spare: set[str], twilio: FakeTwilio
) -> dict[str, Any]:
    """SIGKILL the busiest queue's leader, start it again after DOWNTIME, wait until it
    is back in the cluster and every quorum queue has its member on it again."""
    node, queue, messages = await asyncio.to_thread(busiest_leader, cluster, topology, spare)
    led = [
        name
        for name, s in (await asyncio.to_thread(namespaced, cluster, topology)).items()
        if s.leader == node.node
    ]
    at_kill = delivered(twilio)
    await asyncio.to_thread(node.kill)
    killed = time.monotonic()
    await asyncio.sleep(DOWNTIME)
    await asyncio.to_thread(cluster.start_node, node)
    started = time.monotonic()
    await wait_for(lambda: all_members_online(cluster, topology), 120, 1)
    return {
        "node": node.node,
        "busiest_queue": queue.removeprefix(f"{topology.namespace}."),
        "busiest_queue_messages": messages,
        "queues_it_led": len(led),
        "delivered_at_kill": at_kill,
        "down_seconds": round(started - killed, 1),
        "members_online_seconds_after_start": round(time.monotonic() - started, 1),
    }


@dataclass
class Steady:
    """New assignments at a steady rate, each with one reminder STEADY_LEAD later."""

    ehr: Ehr
    clients: range
    assigned: list[int] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        for n in self.clients:
            if self.stop.is_set():
                return
            await self.ehr.publish(one_reminder(n, soon(STEADY_LEAD)))
            self.assigned.append(n)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 1 / STEADY_PER_SECOND)


async def consumers(ehr: Ehr) -> dict[str, int]:
    counts = {}
    for base in QUEUES:
        declared = await ehr.channel.declare_queue(
            ehr.topology.queue(base), passive=True, robust=False
        )
        counts[base] = int(declared.declaration_result.consumer_count or 0)
    return counts


async def dead_lettered(ehr: Ehr) -> dict[str, int]:
    return {base: await queue_depth(ehr.channel, ehr.topology.dlq(base)) for base in QUEUES}


def nacked_publishes(system: System) -> dict[str, int]:
    """Log lines per service naming a publish the broker nacked (it is retried)."""
    return {
        name: sum(1 for r in log_records(p.log_path) if "Basic.Nack" in str(r.get("error", "")))
        for name, p in system.procs.items()
    }


def system_env(twilio: FakeTwilio, notifier_port: int) -> dict[str, dict[str, str]]:
    return {
        "scheduler": {"SCHEDULER_LEASE_SECONDS": "10"},
        "notifier": notifier_env(
            twilio,
            NOTIFIER_HTTP_PORT=str(notifier_port),
            NOTIFIER_WEBHOOK_BASE_URL=f"http://127.0.0.1:{notifier_port}",
        ),
    }


async def test_two_node_kills_under_a_burst_lose_and_double_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    with three_nodes() as cluster, balancer([n.port for n in cluster.nodes]) as front:
        formed = time.monotonic() - started
        async with (
            calling_twilio() as twilio,
            drill_topology("drill-cluster", front.url, REDIS_URL) as topology,
            Ehr(front.url, topology) as ehr,
        ):
            env = system_env(twilio, free_port())
            ns = topology.namespace
            with running_system(ns, front.url, REDIS_URL, tmp_path, env=env) as system:
                async with status_listener(ehr) as listener:
                    rig = Rig(cluster, front, topology, ehr, twilio, system, listener)
                    report = await run_drill(rig)
    report["cluster_formed_seconds"] = round(formed, 1)
    report["drill_seconds"] = round(time.monotonic() - started, 1)
    report_counts(report)
    assert all(n == 3 for n in report["quorum_members"].values()), report["quorum_members"]
    tiers = report["retry_tiers"]
    expected = (len(RETRY_TIERS), ["quorum"], [3])
    assert (tiers["queues"], tiers["types"], tiers["members"]) == expected, tiers
    assert report["lost"] == 0
    assert report["provider_duplicates"] == 0
    assert report["unexpected"] == 0
    assert report["statuses_missing"] == 0
    assert all(n == 0 for n in report["dead_lettered"].values())
    assert all(n >= 1 for n in report["consumers_after"].values())
    assert report["same_pids"]
    assert report["alive"]
    assert all(n == 0 for n in report["restarts"].values())


@dataclass
class Rig:
    """Everything the drill runs against."""

    cluster: RabbitCluster
    front: Balancer
    topology: Topology
    ehr: Ehr
    twilio: CallingTwilio
    system: System
    listener: StatusListener


async def run_drill(rig: Rig) -> dict[str, Any]:
    cluster, topology, ehr, twilio = rig.cluster, rig.topology, rig.ehr, rig.twilio
    system, listener = rig.system, rig.listener
    started_pids = pids(system.procs)
    members = await asyncio.to_thread(quorum_members, cluster, topology)
    tiers = await asyncio.to_thread(retry_tiers, cluster, topology)
    burst, pool = list(range(BURST)), range(BURST, BURST + STEADY_POOL)
    onboarding = await onboard(ehr, [*burst, *pool])
    at = soon(2 * onboarding + 30)  # the assignments take about as long again
    await assign(ehr, REDIS_URL, burst, at)
    assert datetime.now(UTC) < at, "planning outlasted the lead time; raise it"
    steady = Steady(ehr, pool)
    flow = asyncio.create_task(steady.run())
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
    # Into the burst: the notifier's queue holds most of it.
    await wait_for(lambda: delivered(twilio) >= min(BURST // 10, 200), 120, 0.1)
    first = await outage(cluster, topology, set(), twilio)
    second = await outage(cluster, topology, {first["node"]}, twilio)
    steady.stop.set()
    await flow
    expected = burst + steady.assigned

    def all_recorded() -> bool:
        return delivered(twilio) >= len(expected) and listener.count(expected) >= len(expected)

    drain = time.monotonic()
    with contextlib.suppress(AssertionError):  # the report shows what is missing
        await wait_for(all_recorded, STEADY_LEAD + 240, 0.5)
    drained = time.monotonic() - drain
    await asyncio.sleep(10)  # a duplicate would arrive by now
    return {
        "drill": "rabbitmq_cluster_node_kills",
        "nodes": len(cluster.nodes),
        "quorum_members": {k.removeprefix(f"{topology.namespace}."): v for k, v in members.items()},
        "burst": BURST,
        "steady_assigned": len(steady.assigned),
        "downtime_seconds": DOWNTIME,
        "onboarding_seconds": round(onboarding, 1),
        "retry_tiers": tiers,
        "outages": [first, second],
        **provider_counts(twilio, expected),
        "statuses_recorded": listener.count(expected),
        "statuses_missing": len(expected) - listener.count(expected),
        "statuses_missing_examples": [f"cl-{n}" for n in listener.missing(expected)[:5]],
        "status_events_repeated": sum(c - 1 for c in listener.recorded.values()),
        "drained_seconds_after_second_restart": round(drained, 1),
        "status_callbacks": twilio.callbacks_done,
        "callback_retries": twilio.callback_retries,
        "ehr_publish_retries": ehr.retries,
        "balancer_connections": rig.front.connections,
        "dead_lettered": await dead_lettered(ehr),
        "consumers_after": await consumers(ehr),
        "same_pids": pids(system.procs) == started_pids,
        "alive": system.all_alive(),
        "restarts": system.restarts(),
        "errors_logged": errors_logged(system.procs),
        "publishes_nacked": nacked_publishes(system),
    }
