"""What the alert rules and the dashboard may name: the metrics the services export (as
registered with prometheus_client) and the exporters' metrics the rules use."""

from __future__ import annotations

import importlib
import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
# Every module that defines metrics: importing it registers them.
METRIC_MODULES = (
    "shared.metrics",
    "scheduler.metrics",
    "scheduler.replan",
    "notifier.metrics",
    "notifier.resilience",
    "tracker.metrics",
)
# The exporters' metrics the rules may use: RabbitMQ's rabbitmq_prometheus plugin on
# /metrics/per-object (labels vhost, queue; read from a 3.10 node) and redis_exporter.
EXPORTER_METRICS = frozenset(
    {
        "rabbitmq_queue_messages",
        "rabbitmq_queue_consumers",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
    }
)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def exported_metrics() -> set[str]:
    """Sample names the services can expose, whether or not a sample exists yet."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression (not functions, labels or keywords)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings (regexes may hold names)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        follows = text[match.end() :].lstrip()[:1]
        if name.lower() in KEYWORDS or follows == "(":  # a function or an aggregation
            continue
        found.add(name)
    return found


def rule_exprs() -> list[str]:
    import yaml

    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def allowed_metrics() -> set[str]:
    """What the services export, the exporters' metrics, and Prometheus' own ``up``."""
    return exported_metrics() | EXPORTER_METRICS | {"up"}


def promtool() -> str:
    """promtool's path; skips the test where it is missing, except in CI where it must be
    there (scripts/ensure-infra.sh installs Debian's prometheus package)."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI: scripts/test.sh should install it")
        pytest.skip("promtool not installed (apt-get install prometheus; scripts/test.sh does)")
    return path
