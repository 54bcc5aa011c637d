"""The notifier's Prometheus metrics (the common ones live in shared.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SENDS = Counter(
    "bs_notifier_sends_total",
    "Provider send attempts, by channel, provider and outcome "
    "(sent, transient_failure, permanent_failure).",
    ["channel", "provider", "outcome"],
)
SEND_SECONDS = Histogram(
    "bs_notifier_send_seconds",
    "Time of one provider call, whatever its outcome.",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FAILOVERS = Counter(
    "bs_notifier_failovers_total",
    "Sends handed to the channel's next provider at once because this one was unavailable "
    "(circuit open, 5xx, 429, unreachable), by channel and the unavailable provider.",
    ["channel", "provider"],
)
