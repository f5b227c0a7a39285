"""The compose deployment's monitoring, checked without a Prometheus: the alert rules have the
shape Prometheus loads and a runbook entry each; the alerts the pipeline needs exist; the
scrape targets are the ports the services serve; every metric an alert or a dashboard panel
asks for is one the services export. (Prometheus' own `promtool check rules` / `check config`
run over the same files in tests/integration/test_promtool.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import connect.sealer.metrics
import connect.sink.metrics
import connect.transformer.metrics
import query_service.metrics
from authtrail.metrics import component_registry
from authtrail.settings import PROJECT_ROOT, Settings

MONITORING = PROJECT_ROOT / "docker"
ALERTS = MONITORING / "prometheus" / "alerts.yml"
PROMETHEUS = MONITORING / "prometheus" / "prometheus.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "authtrail.json"
DATASOURCE = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
METRIC = re.compile(r"\bauthtrail_[a-z0-9_]+")
JMX_METRIC = re.compile(r"\bkafka_(?:connect|server|controller|network)_[a-z0-9_]+")
assert connect.sealer.metrics and connect.sink.metrics  # noqa: PT018 - imported for their metrics
assert connect.transformer.metrics and query_service.metrics  # noqa: PT018


def exported_series() -> set[str]:
    """Every series name the services can export (counters with ``_total``, histograms' parts)."""
    names: set[str] = set()
    for prefix in ("authtrail_api_", "authtrail_transformer_", "authtrail_sink_watch_", "authtrail_sealer_"):
        for family in text_string_to_metric_families(generate_latest(component_registry(prefix)).decode()):
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{part}" for part in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_alerts_the_pipeline_needs_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {"SinkTaskFailed", "DeadLettersArriving", "ConsumerLagGrowing", "Api5xx"} <= names
    assert "AuthtrailServiceDown" in names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_severity_a_summary_and_a_runbook_entry(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"]
    anchor = rule["annotations"]["runbook"]
    assert anchor == f"docs/operations.md#{rule['alert'].lower()}"
    assert f"\n### {rule['alert']}\n" in OPERATIONS.read_text(), f"no runbook entry for {rule['alert']}"


def test_alerts_and_panels_ask_only_for_metrics_the_services_export() -> None:
    exported = exported_series()
    asked = {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])}
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            asked.update(METRIC.findall(target["expr"]))
    assert asked, "no metric asked for"
    assert sorted(asked - exported) == []


def test_every_alert_has_a_firing_case_in_the_rule_unit_tests() -> None:
    # docker/prometheus/alerts_test.yml, run by promtool in tests/integration/test_promtool.py
    cases = yaml.safe_load((MONITORING / "prometheus" / "alerts_test.yml").read_text())["tests"]
    firing = {
        check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]
    }
    assert sorted({rule["alert"] for rule in alert_rules()} - firing) == []


def test_alerts_on_the_kafka_jvms_ask_only_for_documented_jmx_metrics() -> None:
    # Documented = served: tests/integration/test_jmx_metrics.py holds the live endpoints to the guide.
    guide = OPERATIONS.read_text()
    asked = {name for rule in alert_rules() for name in JMX_METRIC.findall(rule["expr"])}
    assert {
        "kafka_controller_offline_partitions",
        "kafka_connect_task_dead_letter_queue_produce_failures_total",
    } <= asked
    assert sorted(name for name in asked if f"`{name}`" not in guide) == []


def test_prometheus_scrapes_each_service_on_the_port_it_serves() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    ports = {
        job["job_name"]: (job["dns_sd_configs"][0]["names"][0], job["dns_sd_configs"][0]["port"])
        for job in config["scrape_configs"]
        if job["job_name"].startswith("authtrail-")
    }
    fields = Settings.model_fields
    assert ports == {
        "authtrail-transformer": ("transformer", fields["transformer_metrics_port"].default),
        "authtrail-sink-watch": ("sink-watch", fields["sink_watch_metrics_port"].default),
        "authtrail-sealer": ("sealer", fields["sealer_metrics_port"].default),
        "authtrail-api": ("api", fields["api_metrics_port"].default),
    }
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    wanted = {"transformer", "sink-watch", "sealer", "api", "prometheus", "grafana", "kafka-ui"}
    assert wanted <= set(services)
    assert compose["x-authtrail-env"]["AUTHTRAIL_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - compose network
    assert "./docker/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_the_dashboard_is_provisioned_against_the_provisioned_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"]
            assert panel["targets"], panel["title"]
