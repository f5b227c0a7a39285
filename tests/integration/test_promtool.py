"""promtool — Prometheus' own checker, built from its Go module by the stack's build step
(``scripts/stack/artifacts.py``, cached by version) — over everything the project hands to a
Prometheus: each service's exposition, the Kafka JVMs' JMX exporter endpoints live on the
running stack, the alert rules (and their unit tests), the dashboard's queries and the scrape
configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import generate_latest

import connect.sealer.metrics
import connect.sink.metrics
import connect.transformer.metrics
import query_service.metrics
from authtrail.metrics import component_registry
from authtrail.settings import PROJECT_ROOT, Settings
from scripts.stack import artifacts
from scripts.stack.control import LocalStack

pytestmark = pytest.mark.stack
PROMETHEUS = PROJECT_ROOT / "docker" / "prometheus"
DASHBOARD = PROJECT_ROOT / "docker" / "grafana" / "dashboards" / "authtrail.json"
assert connect.sealer.metrics and connect.sink.metrics  # noqa: PT018 - imported for their metrics
assert connect.transformer.metrics and query_service.metrics  # noqa: PT018


@pytest.fixture(scope="module")
def promtool(settings: Settings) -> Path:
    return artifacts.promtool(settings.cache_dir)


def check(promtool: Path, *args: str, stdin: str | None = None) -> str:
    """promtool's findings; fails the test with them when it does not pass."""
    run = subprocess.run(
        [str(promtool), "check", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    findings = (run.stdout + run.stderr).strip()
    assert run.returncode == 0, findings
    return findings


@pytest.mark.parametrize(
    "prefix", ["authtrail_api_", "authtrail_transformer_", "authtrail_sink_watch_", "authtrail_sealer_"]
)
def test_each_services_metrics_pass_promtool_check_metrics(promtool: Path, prefix: str) -> None:
    exposition = generate_latest(component_registry(prefix)).decode()
    assert prefix in exposition
    assert check(promtool, "metrics", stdin=exposition) == ""


@pytest.mark.parametrize("jvm", ["kafka", "connect"])
def test_the_kafka_jvms_jmx_endpoints_pass_promtool_check_metrics(
    promtool: Path, stack: LocalStack, settings: Settings, jvm: str
) -> None:
    port = settings.kafka_jmx_metrics_port if jvm == "kafka" else settings.connect_jmx_metrics_port
    exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    assert f"kafka_{'server' if jvm == 'kafka' else 'connect'}_" in exposition
    assert check(promtool, "metrics", stdin=exposition) == ""


def test_the_alert_rules_pass_promtool_check_rules(promtool: Path) -> None:
    assert "SUCCESS" in check(promtool, "rules", str(PROMETHEUS / "alerts.yml"))


def test_the_alert_rules_unit_tests_pass(promtool: Path) -> None:
    # docker/prometheus/alerts_test.yml: each alert fires on its bad series, with the text an
    # operator reads, and stays quiet on healthy ones (tests/unit/test_monitoring_config.py
    # holds every alert to a firing case there).
    run = subprocess.run(
        [str(promtool), "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_dashboard_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    # Each panel's expression as a recording rule: `check rules` parses it as Prometheus would.
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert exprs
    rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(exprs)} rules found" in check(promtool, "rules", str(tmp_path / "panels.yml"))


def test_the_scrape_configuration_passes_promtool_check_config(promtool: Path) -> None:
    assert "SUCCESS" in check(promtool, "config", str(PROMETHEUS / "prometheus.yml"))
