"""Exchange, queue and routing-key names, defined once for every service.

Routing keys equal the events' ``type`` tags. Every name is built under an optional
namespace so that tests (and several deployments on one broker) never collide.

Layout:
- ``bs.ehr.inbound``  (topic)  the EHR publishes here.
- ``bs.internal``     (topic)  services publish to each other here.
- ``bs.ehr.outbound`` (topic)  we publish here for the EHR; it binds its own queue.
- ``bs.dead-letter``  (direct) every consuming queue's ``<queue>.dlq`` is bound by queue name.
- ``bs.retry.<tier>`` (fanout) a TTL wait queue per backoff tier, dead-lettering into
- ``bs.requeue``      (direct) which routes a retried message back by queue name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

INBOUND = "bs.ehr.inbound"
INTERNAL = "bs.internal"
OUTBOUND = "bs.ehr.outbound"
DEAD_LETTER = "bs.dead-letter"
REQUEUE = "bs.requeue"
RETRY_PREFIX = "bs.retry"

# Backoff tiers (seconds) for delayed re-delivery. A retry waits in the smallest tier
# that is at least the computed backoff; fixed tiers avoid RabbitMQ's head-of-line
# blocking with per-message TTLs.
RETRY_TIERS: tuple[int, ...] = (1, 5, 30, 120, 600)

# Quorum queues dead-letter a message that was redelivered this many times (a
# consumer that crashes on it every time), so one poison message cannot wedge a queue.
DELIVERY_LIMIT = 20


class Exchange(StrEnum):
    INBOUND = INBOUND
    INTERNAL = INTERNAL
    OUTBOUND = OUTBOUND


class RoutingKey(StrEnum):
    # EHR -> us
    ACTIVITY_ASSIGNED = "activity.assigned"
    ACTIVITY_UPDATED = "activity.updated"
    ACTIVITY_CANCELLED = "activity.cancelled"
    ACTIVITY_PAUSED = "activity.paused"
    ACTIVITY_RESUMED = "activity.resumed"
    ACTIVITY_COMPLETED = "activity.completed"
    CLIENT_PREFERENCES_CHANGED = "client.preferences.changed"
    CLINIC_POLICY_CHANGED = "clinic.policy.changed"
    SESSION_UPCOMING = "session.upcoming"
    CLIENT_ERASED = "client.erased"
    # between services
    REMINDER_DUE = "reminder.due"
    NOTIFICATION_DISPATCHED = "notification.dispatched"
    NOTIFICATION_FAILED = "notification.failed"
    NOTIFICATION_SUPPRESSED = "notification.suppressed"
    DELIVERY_STATUS_CHANGED = "delivery.status.changed"
    CONSENT_CHANGED = "consent.changed"
    PUSH_REVOKED = "push.revoked"
    COMPLETION_REPORTED = "completion.reported"
    SCHEDULER_BACKLOG_REPORTED = "scheduler.backlog.reported"
    CLIENT_PLANS_CHANGED = "client.plans.changed"
    CLIENT_ERASURE_REPORTED = "client.erasure.reported"
    # us -> EHR (completion.recorded also goes to bs.internal for the scheduler)
    REMINDER_DELIVERED = "reminder.delivered"
    REMINDER_FAILED = "reminder.failed"
    COMPLETION_RECORDED = "completion.recorded"
    ADHERENCE_SUMMARY = "adherence.summary"
    CLINICIAN_ALERT = "clinician.alert"
    CLIENT_ERASURE_COMPLETED = "client.erasure.completed"


R = RoutingKey

_EHR_KEYS = (
    R.ACTIVITY_ASSIGNED,
    R.ACTIVITY_UPDATED,
    R.ACTIVITY_CANCELLED,
    R.ACTIVITY_PAUSED,
    R.ACTIVITY_RESUMED,
    R.ACTIVITY_COMPLETED,
    R.CLIENT_PREFERENCES_CHANGED,
    R.CLINIC_POLICY_CHANGED,
    R.SESSION_UPCOMING,
    R.CLIENT_ERASED,
)
_INTERNAL_KEYS = (
    R.REMINDER_DUE,
    R.NOTIFICATION_DISPATCHED,
    R.NOTIFICATION_FAILED,
    R.NOTIFICATION_SUPPRESSED,
    R.DELIVERY_STATUS_CHANGED,
    R.CONSENT_CHANGED,
    R.PUSH_REVOKED,
    R.COMPLETION_REPORTED,
    R.SCHEDULER_BACKLOG_REPORTED,
    R.CLIENT_PLANS_CHANGED,
    R.CLIENT_ERASURE_REPORTED,
)
_OUTBOUND_KEYS = (
    R.REMINDER_DELIVERED,
    R.REMINDER_FAILED,
    R.ADHERENCE_SUMMARY,
    R.CLINICIAN_ALERT,
    R.CLIENT_ERASURE_COMPLETED,
)

# Which exchange(s) each event type is published to.
PUBLISH_TO: dict[str, tuple[Exchange, ...]] = {
    **{k.value: (Exchange.INBOUND,) for k in _EHR_KEYS},
    **{k.value: (Exchange.INTERNAL,) for k in _INTERNAL_KEYS},
    **{k.value: (Exchange.OUTBOUND,) for k in _OUTBOUND_KEYS},
    R.COMPLETION_RECORDED.value: (Exchange.OUTBOUND, Exchange.INTERNAL),
}


@dataclass(frozen=True)
class QueueSpec:
    """A consuming queue: its bindings, and (derived) its dead-letter queue."""

    name: str
    bindings: tuple[tuple[Exchange, RoutingKey], ...]
    description: str = ""
    # Bindings an earlier release declared and this one no longer wants: declaring the
    # topology removes them (RabbitMQ never drops a binding by itself, so an upgraded
    # queue would go on receiving, and paying for, messages nobody needs any more).
    retired: tuple[tuple[Exchange, RoutingKey], ...] = ()


QUEUES: dict[str, QueueSpec] = {
    q.name: q
    for q in (
        QueueSpec(
            "scheduler.assignments",
            (
                (Exchange.INBOUND, R.ACTIVITY_ASSIGNED),
                (Exchange.INBOUND, R.ACTIVITY_UPDATED),
                (Exchange.INBOUND, R.ACTIVITY_CANCELLED),
                (Exchange.INBOUND, R.ACTIVITY_PAUSED),
                (Exchange.INBOUND, R.ACTIVITY_RESUMED),
                (Exchange.INBOUND, R.ACTIVITY_COMPLETED),
                (Exchange.INBOUND, R.CLIENT_PREFERENCES_CHANGED),
                (Exchange.INBOUND, R.CLINIC_POLICY_CHANGED),
                (Exchange.INTERNAL, R.COMPLETION_RECORDED),
                (Exchange.INTERNAL, R.CONSENT_CHANGED),
                (Exchange.INBOUND, R.CLIENT_ERASED),
            ),
            "Assignment lifecycle, preferences and policies: the scheduler's planning input.",
        ),
        QueueSpec(
            "notifier.reminders",
            ((Exchange.INTERNAL, R.REMINDER_DUE),),
            "Reminders that are due now: render and send.",
        ),
        QueueSpec(
            "notifier.directory",
            (
                (Exchange.INBOUND, R.CLIENT_PREFERENCES_CHANGED),
                (Exchange.INBOUND, R.CLINIC_POLICY_CHANGED),
                (Exchange.INTERNAL, R.CONSENT_CHANGED),
                # Completions, cancels and pauses stop reminders already on their way.
                (Exchange.INBOUND, R.ACTIVITY_CANCELLED),
                (Exchange.INBOUND, R.ACTIVITY_PAUSED),
                (Exchange.INBOUND, R.ACTIVITY_RESUMED),
                (Exchange.INBOUND, R.ACTIVITY_COMPLETED),
                (Exchange.INTERNAL, R.COMPLETION_RECORDED),
                (Exchange.INBOUND, R.CLIENT_ERASED),
            ),
            "Contact points, consent and clinic messaging settings the notifier keeps, and "
            "completions, cancels and pauses (they stop reminders already on their way).",
        ),
        QueueSpec(
            "tracker.events",
            (
                (Exchange.INBOUND, R.ACTIVITY_ASSIGNED),
                (Exchange.INBOUND, R.ACTIVITY_UPDATED),
                (Exchange.INBOUND, R.ACTIVITY_CANCELLED),
                (Exchange.INBOUND, R.ACTIVITY_PAUSED),
                (Exchange.INBOUND, R.ACTIVITY_RESUMED),
                (Exchange.INBOUND, R.ACTIVITY_COMPLETED),
                (Exchange.INBOUND, R.CLINIC_POLICY_CHANGED),
                (Exchange.INBOUND, R.SESSION_UPCOMING),
                (Exchange.INTERNAL, R.NOTIFICATION_DISPATCHED),
                (Exchange.INTERNAL, R.NOTIFICATION_FAILED),
                (Exchange.INTERNAL, R.NOTIFICATION_SUPPRESSED),
                (Exchange.INTERNAL, R.DELIVERY_STATUS_CHANGED),
                (Exchange.INTERNAL, R.CONSENT_CHANGED),
                (Exchange.INTERNAL, R.PUSH_REVOKED),
                (Exchange.INTERNAL, R.COMPLETION_REPORTED),
                (Exchange.INTERNAL, R.SCHEDULER_BACKLOG_REPORTED),
                (Exchange.INTERNAL, R.CLIENT_PLANS_CHANGED),
                (Exchange.INBOUND, R.CLIENT_ERASED),
                (Exchange.INTERNAL, R.CLIENT_ERASURE_REPORTED),
            ),
            "Everything the tracker records: completions, delivery status, sessions.",
            # The notifier's events carry what reminder.due told the tracker (day, purpose,
            # the EHR's correlation id): one delivery per reminder less on the hot path.
            retired=((Exchange.INTERNAL, R.REMINDER_DUE),),
        ),
    )
}

# The tracker's FHIR reporter (tracker/fhir/reporter.py): declared and consumed only by a
# tracker with a FHIR base URL (off by default), so it is not in QUEUES, which every
# deployment declares and consumes.
TRACKER_FHIR_QUEUE = "tracker.fhir"
TRACKER_FHIR_SPEC = QueueSpec(
    TRACKER_FHIR_QUEUE,
    ((Exchange.OUTBOUND, R.REMINDER_DELIVERED), (Exchange.OUTBOUND, R.ADHERENCE_SUMMARY)),
    "Delivered reminders and adherence summaries to post to the EHR's FHIR server.",
)

SCHEDULER_QUEUE = "scheduler.assignments"
NOTIFIER_REMINDERS_QUEUE = "notifier.reminders"
NOTIFIER_DIRECTORY_QUEUE = "notifier.directory"
TRACKER_QUEUE = "tracker.events"


@dataclass(frozen=True)
class Topology:
    """Concrete names under a namespace ('' in production, unique per test)."""

    namespace: str = ""
    queues: dict[str, QueueSpec] = field(default_factory=lambda: dict(QUEUES))

    def name(self, base: str) -> str:
        return f"{self.namespace}.{base}" if self.namespace else base

    def exchange(self, exchange: Exchange | str) -> str:
        return self.name(str(exchange))

    def queue(self, base: str) -> str:
        return self.name(base)

    def dlq(self, base: str) -> str:
        return self.name(f"{base}.dlq")

    @property
    def dead_letter_exchange(self) -> str:
        return self.name(DEAD_LETTER)

    @property
    def requeue_exchange(self) -> str:
        return self.name(REQUEUE)

    def retry_exchange(self, tier: int) -> str:
        return self.name(f"{RETRY_PREFIX}.{tier}s")

    def retry_queue(self, tier: int) -> str:
        """A retry tier's waiting room: a quorum queue, so a retry survives the loss of
        a cluster node (it is confirmed only once a majority holds it)."""
        return self.name(f"{RETRY_PREFIX}.{tier}s.hold")

    def legacy_retry_queue(self, tier: int) -> str:
        """The classic queue earlier releases waited in. On a cluster it lived on one
        node, and while that node was down a retry published to it was confirmed and
        dropped (the RabbitMQ cluster drill lost statuses so); declaring the topology
        unbinds it, and its last messages still expire back to their queues."""
        return self.name(f"{RETRY_PREFIX}.{tier}s.wait")

    def retry_queue_arguments(self, tier: int) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": tier * 1000,
            # No routing key here: the message keeps the one it was published with,
            # which is the name of the queue it came from.
            "x-dead-letter-exchange": self.requeue_exchange,
            # An expired retry moves to its queue at least once, never lost on the way
            # (at-least-once dead-lettering requires reject-publish overflow).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def queue_arguments(self, base: str) -> dict[str, Any]:
        """Arguments of a consuming queue: quorum, with its dead-letter route."""
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.queue(base),
            "x-delivery-limit": DELIVERY_LIMIT,
        }

    def retry_tier_for(self, delay_seconds: float) -> int:
        for tier in RETRY_TIERS:
            if tier >= delay_seconds:
                return tier
        return RETRY_TIERS[-1]

    def all_names(self) -> tuple[list[str], list[str]]:
        """(exchanges, queues) this topology declares; used to tear down test namespaces."""
        exchanges = [self.exchange(e) for e in Exchange]
        exchanges += [self.dead_letter_exchange, self.requeue_exchange]
        exchanges += [self.retry_exchange(t) for t in RETRY_TIERS]
        queues = [self.queue(q) for q in self.queues] + [self.dlq(q) for q in self.queues]
        queues += [self.retry_queue(t) for t in RETRY_TIERS]
        return exchanges, queues
