"""Prometheus metrics common to every service (each service adds its own beside these).

Label values that come from a message or a request are bounded: event types outside the
known routing keys count as ``other`` (``event_type_label``), clinics beyond the first
``MAX_CLINICS`` a process sees count as ``other``, and HTTP requests are labelled by route
template, never by path (``shared.http_metrics``).
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Histogram

from shared.topology import RoutingKey

OTHER = "other"
KNOWN_EVENT_TYPES = frozenset(key.value for key in RoutingKey)
# Enough for every clinic of a large deployment; a cap so that a publisher inventing
# clinic ids cannot grow the series without bound.
MAX_CLINICS = 1000
# The events whose per-clinic counts show whether a clinic's reminders are delivered.
CLINIC_EVENT_TYPES = frozenset(
    {RoutingKey.REMINDER_DUE, RoutingKey.REMINDER_DELIVERED, RoutingKey.REMINDER_FAILED}
)

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

PUBLISHED = Counter(
    "bs_events_published_total",
    "Events the broker confirmed, by exchange and event type.",
    ["exchange", "event_type"],
)
PUBLISH_FAILURES = Counter(
    "bs_event_publish_failures_total",
    "Publishes that raised instead of being confirmed, by exchange, event type and error.",
    ["exchange", "event_type", "error"],
)
PUBLISH_SECONDS = Histogram(
    "bs_event_publish_seconds",
    "Time from publish to the broker's confirm, by exchange.",
    ["exchange"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CLINIC_EVENTS = Counter(
    "bs_clinic_events_published_total",
    "reminder.due, reminder.delivered and reminder.failed confirmed, by clinic.",
    ["clinic", "event_type"],
)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "handler", "status"],
)
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def event_type_label(value: str) -> str:
    """The event type as a label: a known routing key, else ``other``."""
    return value if value in KNOWN_EVENT_TYPES else OTHER


# Every message and every publish counts itself: the label children are looked up once
# per combination (``labels()`` takes a lock and builds a key each time). The combinations
# are bounded: queues and exchanges by the topology, event types by
# ``event_type_label``, outcomes by the handling middleware.
@cache
def handled_counter(queue: str, event_type: str, outcome: str) -> Counter:
    return MESSAGES_HANDLED.labels(queue, event_type, outcome)


@cache
def handling_histogram(queue: str) -> Histogram:
    return HANDLING_SECONDS.labels(queue)


@cache
def published_counter(exchange: str, event_type: str) -> Counter:
    return PUBLISHED.labels(exchange, event_type)


@cache
def publish_histogram(exchange: str) -> Histogram:
    return PUBLISH_SECONDS.labels(exchange)


class FirstSeen:
    """Label values taken from message content, capped: the first ``limit`` distinct
    values keep their name, later ones are counted as ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(value)
        return value


clinic_label = FirstSeen(MAX_CLINICS)
