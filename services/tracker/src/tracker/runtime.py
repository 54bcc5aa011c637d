"""What the tracker's handlers and routes share: built at start-up, once Redis is connected."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.service import Service
from tracker.queues import QueueInspector
from tracker.recorder import Recorder
from tracker.settings import TrackerSettings
from tracker.store import Retention, TrackerStore


@dataclass
class TrackerRuntime:
    service: Service
    settings: TrackerSettings
    _recorder: Recorder | None = None
    queues: QueueInspector = field(init=False)

    def __post_init__(self) -> None:
        self.queues = QueueInspector(self.settings.amqp_url, self.service.topology)

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RuntimeError("the recorder exists once the service has started")
        return self._recorder

    def start(self) -> None:
        store = TrackerStore(self.service.redis, self.service.key(), retention_for(self.settings))
        self._recorder = Recorder(
            store, self.service.publisher, summary_days=self.settings.summary_default_days
        )


def retention_for(s: TrackerSettings) -> Retention:
    return Retention(
        delivery_days=s.delivery_retention_days,
        hourly_counter_days=s.hourly_counter_retention_days,
        daily_counter_days=s.daily_counter_retention_days,
        assignment_days=s.assignment_retention_days,
        stream_max_len=s.stream_max_len,
        backlog_seconds=s.backlog_ttl_seconds,
    )
