"""What the tracker's handlers and routes share: built at start-up, once Redis is connected."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.service import Service
from shared.settings import secret_values
from tracker.done_links import DoneLinks, LinkRecords
from tracker.queues import QueueInspector
from tracker.recorder import Recorder
from tracker.settings import TrackerSettings
from tracker.store import Retention, TrackerStore


@dataclass
class TrackerRuntime:
    service: Service
    settings: TrackerSettings
    _recorder: Recorder | None = None
    _links: DoneLinks | None = None
    queues: QueueInspector = field(init=False)

    def __post_init__(self) -> None:
        self.queues = QueueInspector(self.settings.amqp_url, self.service.topology)

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RuntimeError("the recorder exists once the service has started")
        return self._recorder

    @property
    def links(self) -> DoneLinks:
        if self._links is None:
            raise RuntimeError("the done links exist once the service has started")
        return self._links

    def start(self) -> None:
        s = self.settings
        redis, prefix = self.service.redis, self.service.key()
        store = TrackerStore(redis, prefix, retention_for(s))
        self._recorder = Recorder(
            store, self.service.publisher, summary_days=s.summary_default_days
        )
        records = LinkRecords(redis, prefix, s.link_grace_days)
        self._links = DoneLinks(records, self._recorder, secret_values(s.link_secrets))


def retention_for(s: TrackerSettings) -> Retention:
    return Retention(
        delivery_days=s.delivery_retention_days,
        hourly_counter_days=s.hourly_counter_retention_days,
        daily_counter_days=s.daily_counter_retention_days,
        assignment_days=s.assignment_retention_days,
        stream_max_len=s.stream_max_len,
        backlog_seconds=s.backlog_ttl_seconds,
    )
