"""session.upcoming -> adherence.summary: the client's assignments and completions in
two round trips, the summary decided on them, published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.contracts import AdherenceSummary, SessionUpcoming, utcnow
from tracker import metrics
from tracker.decide.summary import summary
from tracker.store import TrackerStore
from tracker.usecases.publishing import Publisher


class Summaries:
    def __init__(
        self,
        store: TrackerStore,
        publisher: Publisher,
        clock: Callable[[], datetime] = utcnow,
        default_days: int = 7,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.default_days = default_days

    async def summarize(self, event: SessionUpcoming) -> AdherenceSummary:
        view = await self.store.client_view(event.clinic_id, event.client_ref)
        now = self.clock()
        result = summary(event, view.records, view.completions, now, self.default_days)
        await self.publisher.publish(result)
        metrics.SUMMARIES_SENT.inc()
        return result
