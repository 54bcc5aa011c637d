"""What the tracker's handlers and routes share: built when the service starts (Redis is
connected then), closed when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio.cluster import RedisCluster

from shared.contracts import utcnow
from shared.logging import get_logger
from shared.ordering import InOrder
from shared.service import RedisClient, Service
from shared.settings import secret_values
from tracker.done_links import DoneLinks, LinkRecords
from tracker.queues import QueueInspector
from tracker.settings import TrackerSettings
from tracker.store import Retention, TrackerStore
from tracker.usecases.assignments import Assignments
from tracker.usecases.completion import Completions
from tracker.usecases.delivery import Delivery
from tracker.usecases.escalation import Escalations
from tracker.usecases.plans import Plans
from tracker.usecases.publishing import Publisher
from tracker.usecases.summary import Summaries

log = get_logger("tracker.runtime")


@dataclass(frozen=True)
class UseCases:
    store: TrackerStore
    delivery: Delivery
    completions: Completions
    summaries: Summaries
    escalations: Escalations
    assignments: Assignments
    links: DoneLinks
    plans: Plans
    order: InOrder = field(default_factory=InOrder)


@dataclass
class Runtime:
    settings: TrackerSettings
    clock: Callable[[], datetime] = utcnow
    _cases: UseCases | None = None
    _queues: QueueInspector | None = None

    async def start(self, service: Service) -> None:
        self.open(service.store, service.key(), service.publisher)
        self._queues = QueueInspector(self.settings.amqp_url, service.topology)
        service.spawn(escalation_loop(self, service), "escalation")

    async def stop(self, service: Service) -> None:
        if self._queues is not None:
            await self._queues.close()
        self._cases = self._queues = None

    def open(self, redis: RedisClient, prefix: str, publisher: Publisher) -> UseCases:
        """The use cases on this Redis and publisher (``start``, or a bench without a broker).
        On a cluster the keys spread over its masters by clinic (``keys.Keys.spread``)."""
        s, clock = self.settings, self.clock
        spread = isinstance(redis, RedisCluster)
        store = TrackerStore(redis, prefix, retention_for(s), spread=spread)
        completions = Completions(store, publisher, clock)
        records = LinkRecords(redis, store.keys, s.link_grace_days)
        self._cases = UseCases(
            store=store,
            delivery=Delivery(store, publisher, clock),
            completions=completions,
            summaries=Summaries(store, publisher, clock, s.summary_default_days),
            escalations=Escalations(store, publisher, clock),
            assignments=Assignments(store),
            links=DoneLinks(records, store, completions, secret_values(s.link_secrets), clock),
            plans=Plans(store, clock),
        )
        return self._cases

    @property
    def cases(self) -> UseCases:
        if self._cases is None:
            raise RuntimeError("the tracker's use cases exist once the service has started")
        return self._cases

    @property
    def store(self) -> TrackerStore:
        return self.cases.store

    @property
    def links(self) -> DoneLinks:
        return self.cases.links

    @property
    def escalations(self) -> Escalations:
        return self.cases.escalations

    @property
    def order(self) -> InOrder:
        return self.cases.order

    @property
    def queues(self) -> QueueInspector:
        if self._queues is None:
            raise RuntimeError("the queue inspector exists once the service has started")
        return self._queues


async def escalation_loop(runtime: Runtime, service: Service) -> None:
    """Misses happen by time passing, not by a message: sweep every active assignment."""
    while True:
        await asyncio.sleep(runtime.settings.escalation_interval_seconds)
        if not service.broker.running:  # start hooks run before the broker connects
            continue
        try:
            await runtime.escalations.sweep()
        except Exception:  # a Redis or broker hiccup: try again next round
            log.exception("escalation sweep failed")


def retention_for(s: TrackerSettings) -> Retention:
    return Retention(
        delivery_days=s.delivery_retention_days,
        delivery_detail_days=min(s.delivery_detail_retention_days, s.delivery_retention_days),
        hourly_counter_days=s.hourly_counter_retention_days,
        daily_counter_days=s.daily_counter_retention_days,
        assignment_days=s.assignment_retention_days,
        stream_max_len=s.stream_max_len,
        backlog_seconds=s.backlog_ttl_seconds,
        timeline_max_len=s.timeline_max_len,
    )
