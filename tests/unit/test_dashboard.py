"""The Grafana dashboard: valid JSON, valid PromQL naming only metrics the services or the
exporters of the alert rules export, and provisioned by compose.yaml next to a Prometheus
that scrapes every service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.promql import ROOT, allowed_metrics, metric_names, promtool

DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "between-sessions.json"
PROMETHEUS = ROOT / "ops" / "prometheus" / "prometheus.yml"
PORTS = {"scheduler": "8001", "notifier": "8002", "tracker": "8003"}


def panel_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    assert len(exprs) >= len(panels)
    return exprs


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_every_panel_names_only_exported_metrics() -> None:
    allowed = allowed_metrics()
    for expr in panel_exprs():
        names = metric_names(expr)
        assert names, expr
        assert names <= allowed, f"{expr}: not exported: {names - allowed}"


def test_every_panel_expression_is_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"panel:expr{n}", "expr": expr}
                    for n, expr in enumerate(panel_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_provisions_grafana_with_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in grafana["volumes"]}
    assert mounts["./ops/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards = mounts["./ops/grafana/dashboards"]
    provider = yaml.safe_load(
        (ROOT / "ops/grafana/provisioning/dashboards/between-sessions.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == dashboards
    datasource = yaml.safe_load(
        (ROOT / "ops/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    uids = {
        t["datasource"]["uid"]
        for p in json.loads(DASHBOARD.read_text())["panels"]
        for t in p.get("targets", [])
    }
    assert uids == {datasource["uid"]}


def test_prometheus_scrapes_every_service_and_loads_the_rules(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in prometheus["volumes"]}
    assert mounts["./ops/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert mounts["./ops/prometheus/alerts.yml"] in config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, port in PORTS.items():
        env = compose["services"][name]["environment"]
        assert env[f"{name.upper()}_HTTP_PORT"] == port
        sd = jobs[name]["dns_sd_configs"][0]
        assert sd["names"] == [name]
        assert str(sd["port"]) == port
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
    assert {"rabbitmq", "redis"} <= set(jobs)
    assert "redis-exporter" in compose["services"]


def test_service_healthchecks_use_readiness(compose: dict[str, Any]) -> None:
    for name, port in PORTS.items():
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in test
