"""The tracker's Prometheus metrics (the common ones live in shared.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

COMPLETIONS_RECORDED = Counter(
    "bs_tracker_completions_recorded_total",
    "Completions recorded (once per occurrence), by source.",
    ["source"],
)
COMPLETIONS_DUPLICATE = Counter(
    "bs_tracker_completions_duplicate_total",
    "Completions that arrived for an occurrence already recorded, by source.",
    ["source"],
)
DELIVERY_OUTCOMES = Counter(
    "bs_tracker_delivery_outcomes_total",
    "Message outcomes by channel, provider and outcome: once per message, except "
    "retried (once per failed attempt the notifier retries).",
    ["channel", "provider", "outcome"],
)
EVENTS_HANDLED = Counter(
    "bs_tracker_events_handled_total", "Events the tracker applied, by type.", ["event_type"]
)
ALERTS_SENT = Counter("bs_tracker_clinician_alerts_total", "Clinician alerts published.")
SUMMARIES_SENT = Counter("bs_tracker_adherence_summaries_total", "Adherence summaries published.")
DONE_LINK_ANSWERS = Counter(
    "bs_tracker_done_link_answers_total",
    "Done-link requests by method and answer (GETs far above POSTs are link previewers).",
    ["method", "answer"],
)
