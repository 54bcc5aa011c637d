"""Prometheus metrics common to every service (each service adds its own beside these)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_HANDLED = Counter(
    "bs_messages_handled_total",
    "Messages taken from a queue, by outcome (ok, retried, dead_lettered).",
    ["queue", "event_type", "outcome"],
)
HANDLING_SECONDS = Histogram(
    "bs_message_handling_seconds",
    "Time spent handling one message.",
    ["queue"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERED = Counter(
    "bs_dead_lettered_total", "Messages sent to a dead-letter queue.", ["queue", "error"]
)
RETRIES = Counter("bs_retries_total", "Delayed re-deliveries scheduled.", ["queue", "tier"])
