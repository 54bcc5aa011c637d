"""The scheduler's Prometheus metrics (the common ones live in shared.metrics).

The backlog gauges describe Redis, which every replica shares: only the replica holding
the reporter lease (see ``upkeep.report_backlog``) reports them, the others report 0, so
``sum`` and ``max`` over the replicas both give the deployment's count.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FIRED = Counter("bs_scheduler_reminders_fired_total", "reminder.due published and confirmed.")
DROPPED = Counter(
    "bs_scheduler_timers_dropped_total", "Timers that could not be read and were dropped."
)
LATENESS = Histogram(
    "bs_scheduler_lateness_seconds",
    "Fire time (publish confirmed) minus due time, per reminder fired.",
    # Up to an hour: a reminder held back by an outage is late by minutes, not seconds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
PENDING = Gauge(
    "bs_scheduler_pending_timers",
    "Timers waiting in Redis, all shards (from the reporting replica; 0 on the others).",
)
OVERDUE = Gauge(
    "bs_scheduler_overdue_timers",
    "Timers already due and not fired yet (from the reporting replica; 0 on the others).",
)
OLDEST_OVERDUE = Gauge(
    "bs_scheduler_oldest_overdue_seconds",
    "How long the earliest due timer has been waiting, 0 when none is due "
    "(from the reporting replica; 0 on the others).",
)
BACKLOG_REPORTER = Gauge(
    "bs_scheduler_backlog_reporter",
    "1 on the replica that reports the backlog gauges, 0 on the others.",
)
