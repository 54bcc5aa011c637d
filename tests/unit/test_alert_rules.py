"""ops/prometheus/alerts.yml: valid for Prometheus, every rule unit-tested with promtool,
every alert with its runbook in docs/operations.md, and every metric it names exported."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.support.promql import (
    ROOT,
    RULES,
    allowed_metrics,
    metric_names,
    promtool,
    rule_exprs,
)

TESTS = RULES.with_name("alerts.test.yml")
OPERATIONS = ROOT / "docs" / "operations.md"


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", TESTS.name],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in alerts():
        name = rule["alert"]
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name} is never tested firing"
        assert any(not check["exp_alerts"] for check in mine), f"{name} never tested silent"


def test_every_alert_has_a_runbook_section() -> None:
    headings = set(re.findall(r"^#### (\w+)$", OPERATIONS.read_text(), flags=re.MULTILINE))
    for rule in alerts():
        name = str(rule["alert"])
        assert name in headings, f"docs/operations.md has no '#### {name}' runbook"
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["runbook"] == f"docs/operations.md#{name.lower()}"


@pytest.mark.parametrize("expr", rule_exprs())
def test_rules_name_only_metrics_that_exist(expr: str) -> None:
    names = metric_names(expr)
    assert names, expr
    unknown = names - allowed_metrics()
    assert not unknown, f"exported by no service or exporter: {unknown}"


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (provider) (rate(bs_notifier_sends_total{outcome=~"x_total"}[10m]))'
        " / on(provider) max(up) > 0.2 and redis_memory_max_bytes"
    )
    assert metric_names(expr) == {"bs_notifier_sends_total", "up", "redis_memory_max_bytes"}
