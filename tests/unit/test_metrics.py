"""Metric plumbing without servers: each service's endpoint serves its own metrics (and only
those), a taken port fails naming its setting, per-partition gauges follow the assignment, the
counters move where the work happens, and every name keeps Prometheus conventions and is
documented in docs/operations.md."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY, Gauge, generate_latest
from pydantic import SecretStr
from starlette.testclient import TestClient

import connect.sealer.metrics
import connect.sink.metrics
import connect.transformer.metrics as transformer_metrics
import query_service.metrics as api_metrics
from authtrail.errors import ConfigurationError
from authtrail.metrics import PartitionGauge, component_registry, multiprocess_directory, serve_metrics
from authtrail.settings import PROJECT_ROOT, load_settings
from query_service.app import create_app
from tests.support.metric_lint import authtrail_names, problems
from tests.support.unreached_store import UNREACHED_STORE_URI
from tests.unit.test_transformer_loop import ScriptedTransformer, run_to_end

PREFIXES = ("authtrail_api_", "authtrail_transformer_", "authtrail_sink_watch_", "authtrail_sealer_")
assert connect.sealer.metrics  # imported: their metrics are registered
assert connect.sink.metrics


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- serving ---------------------------------------------------------------------------------
def test_an_endpoint_serves_its_components_metrics_and_no_others() -> None:
    transformer_metrics.CONSUMED.inc()
    server = serve_metrics("127.0.0.1", free_port(), "transformer_metrics_port", "authtrail_transformer_")
    assert server is not None
    try:
        response = httpx.get(server.url, timeout=5)
    finally:
        server.close()
    assert response.status_code == 200
    names = authtrail_names(response.text)
    assert "authtrail_transformer_records_consumed" in names
    assert all(name.startswith("authtrail_transformer_") for name in names), names
    assert "process_resident_memory_bytes" in response.text  # the process collector stays


def test_port_zero_serves_nothing() -> None:
    assert serve_metrics("127.0.0.1", 0, "sealer_metrics_port", "authtrail_sealer_") is None


def test_a_taken_port_fails_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match="AUTHTRAIL_SINK_WATCH_METRICS_PORT"):
            serve_metrics("127.0.0.1", port, "sink_watch_metrics_port", "authtrail_sink_watch_")


# --- per-partition gauges ----------------------------------------------------------------------
def test_a_partition_gauge_follows_the_assignment_and_refreshes_when_due() -> None:
    gauge = Gauge("test_lag_records", "lag for the test", ["partition"], registry=None)
    now = [100.0]
    lag = PartitionGauge(gauge, "test lag", interval_s=5, clock=lambda: now[0])

    assert lag.refresh_if_due(lambda: {0: 7, 1: 3})
    assert {s.labels["partition"]: s.value for s in gauge.collect()[0].samples} == {"0": 7, "1": 3}
    now[0] += 1
    assert not lag.refresh_if_due(lambda: {0: 0})  # not due yet
    now[0] += 5
    assert lag.refresh_if_due(lambda: {1: 0, 2: 9})  # partition 0 revoked, 2 assigned
    assert {s.labels["partition"]: s.value for s in gauge.collect()[0].samples} == {"1": 0, "2": 9}


def test_a_failed_lag_read_keeps_the_service_going_and_the_last_values() -> None:
    gauge = Gauge("test_lag2_records", "lag for the test", ["partition"], registry=None)
    now = [0.0]
    lag = PartitionGauge(gauge, "test lag", interval_s=1, clock=lambda: now[0])
    lag.refresh_if_due(lambda: {0: 4})
    now[0] += 2

    def broker_down() -> dict[int, int]:
        raise RuntimeError("broker down")

    assert not lag.refresh_if_due(broker_down)
    assert [s.value for s in gauge.collect()[0].samples] == [4]
    now[0] += 2
    assert not lag.refresh_if_due(lambda: {0: 1})  # backing off after a failure
    now[0] += 6
    assert lag.refresh_if_due(lambda: {0: 1})
    assert [s.value for s in gauge.collect()[0].samples] == [1]


# --- the transformer counts where its status line does ----------------------------------------
def test_the_transformer_counts_every_consumed_record_once_handed_on() -> None:
    before = {
        name: value(f"authtrail_transformer_{name}_total")
        for name in ("records_consumed", "records_forwarded", "records_dropped")
    }
    internal = value("authtrail_transformer_records_dead_lettered_total", reason="internal_error")
    run_to_end([6, 5, 4], batch_size=4, transformer=ScriptedTransformer(set(), buggy=frozenset({(1, 2)})))
    moved = {name: value(f"authtrail_transformer_{name}_total") - was for name, was in before.items()}
    dead = value("authtrail_transformer_records_dead_lettered_total", reason="internal_error") - internal
    assert moved["records_consumed"] == 15
    assert (moved["records_forwarded"], dead, moved["records_dropped"]) == (14, 1, 0)


def test_the_transformer_counts_rewinds_by_cause_and_failed_deliveries() -> None:
    delivery = value("authtrail_transformer_batch_rewinds_total", cause="delivery_failed")
    dependency = value("authtrail_transformer_batch_rewinds_total", cause="dependency_unavailable")
    failures = value("authtrail_transformer_delivery_failures_total")
    batches = value("authtrail_transformer_batch_duration_seconds_count")
    run_to_end([4, 4], batch_size=8, transformer=ScriptedTransformer({(1, 3)}), failing_flushes={1})
    assert (
        value("authtrail_transformer_batch_rewinds_total", cause="dependency_unavailable") - dependency == 1
    )
    assert value("authtrail_transformer_batch_rewinds_total", cause="delivery_failed") - delivery == 1
    assert value("authtrail_transformer_delivery_failures_total") - failures == 1
    assert value("authtrail_transformer_batch_duration_seconds_count") - batches == 1  # the one that landed


# --- the API: requests by route template, auth failures, /metrics on its own port if asked -----
@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = load_settings(
        mongo_uri=UNREACHED_STORE_URI,  # never reached by these requests
        api_access_log_to_store=False,
        api_cursor_secret=SecretStr("s" * 40),
        api_metrics_port=getattr(request, "param", 0),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_api_requests_are_counted_by_route_template_and_status(api: TestClient) -> None:
    health = value("authtrail_api_requests_total", route="/health", method="GET", status="200")
    by_id = value("authtrail_api_requests_total", route="/audit_events/{id:path}", method="GET", status="401")
    unmatched = value("authtrail_api_requests_total", route="unmatched", method="GET", status="404")
    missing = value("authtrail_api_auth_failures_total", reason="missing_key")
    invalid = value("authtrail_api_auth_failures_total", reason="invalid_key")
    for _ in range(3):
        assert api.get("/health").status_code == 200
    assert api.get("/audit_events/some-event-id").status_code == 401
    assert api.get("/audit_events/x", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert api.get("/no/such/route").status_code == 404

    assert value("authtrail_api_requests_total", route="/health", method="GET", status="200") - health == 3
    assert (
        value("authtrail_api_requests_total", route="/audit_events/{id:path}", method="GET", status="401")
        - by_id
        == 2
    )
    assert (
        value("authtrail_api_requests_total", route="unmatched", method="GET", status="404") - unmatched == 1
    )
    assert value("authtrail_api_auth_failures_total", reason="missing_key") - missing == 1
    assert value("authtrail_api_auth_failures_total", reason="invalid_key") - invalid == 1
    assert value("authtrail_api_request_duration_seconds_count", route="/health", status="200") >= 3
    exposition = generate_latest(component_registry("authtrail_api_")).decode()
    assert "some-event-id" not in exposition  # ids never become labels


def test_an_unknown_method_is_one_label_value(api: TestClient) -> None:
    before = value("authtrail_api_requests_total", route="/health", method="other", status="405")
    assert api.request("BREW", "/health").status_code == 405
    assert value("authtrail_api_requests_total", route="/health", method="other", status="405") - before == 1


def test_without_a_metrics_port_the_api_serves_metrics_itself_without_a_key(api: TestClient) -> None:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = authtrail_names(response.text)
    assert "authtrail_api_requests" in names
    assert all(name.startswith(api_metrics.COMPONENT_PREFIX) for name in names), names


@pytest.mark.parametrize("api", [9999], indirect=True)
def test_with_a_metrics_port_the_api_port_has_no_metrics(api: TestClient) -> None:
    assert api.get("/metrics").status_code == 404


# --- names, labels and docs ----------------------------------------------------------------------
@pytest.mark.parametrize("prefix", PREFIXES)
def test_metric_names_and_labels_follow_prometheus_conventions(prefix: str) -> None:
    exposition = generate_latest(component_registry(prefix)).decode()
    assert authtrail_names(exposition), f"no {prefix} metrics registered"
    assert problems(exposition) == []


def test_every_metric_is_documented_in_the_operations_guide() -> None:
    guide = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    names = set().union(*(authtrail_names(generate_latest(component_registry(p)).decode()) for p in PREFIXES))
    undocumented = sorted(
        name for name in names if f"`{name}`" not in guide and f"`{name}_total`" not in guide
    )
    assert undocumented == []


def test_the_lint_catches_what_promtool_would() -> None:
    bad = (
        "# HELP authtrail_api_latency_milliseconds x\n# TYPE authtrail_api_latency_milliseconds gauge\n"
        "authtrail_api_latency_milliseconds 1\n"
        "# HELP authtrail_api_hits hits\n# TYPE authtrail_api_hits gauge\nauthtrail_api_hits_total 1\n"
        "# HELP authtrail_api_reads_total r\n# TYPE authtrail_api_reads_total counter\n"
        'authtrail_api_reads_total{event_id="e1"} 1\n'
    )
    found = " | ".join(problems(bad))
    assert "non-base unit 'milliseconds'" in found
    assert "label 'event_id' is unbounded" in found


def test_a_multiprocess_directory_is_fresh_and_only_dead_apis_leftovers_are_removed(tmp_path) -> None:
    alive = tmp_path / f"api-metrics-{os.getpid()}-running"
    dead = tmp_path / "api-metrics-999999999-killed"
    for directory in (alive, dead):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")
    fresh = multiprocess_directory(tmp_path)
    assert fresh.is_dir()
    assert not list(fresh.iterdir())
    assert alive.exists()
    assert not dead.exists()


# --- counting switched off (what the overhead benchmarks compare against) ----------------------
def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_with_metrics_switched_off_every_service_counts_nothing_and_runs_the_same_code() -> None:
    run = _python(
        "import connect.transformer.metrics as t, connect.sink.metrics as s, connect.sealer.metrics as q\n"
        "import query_service.metrics as a\n"
        "from authtrail.metrics import PartitionGauge\n"
        "from prometheus_client import REGISTRY, generate_latest\n"
        "t.CONSUMED.inc(); t.DEAD_LETTERED.labels('x').inc(); t.BATCH_DURATION.observe(0.1)\n"
        "PartitionGauge(t.CONSUMER_LAG, 'lag', 1).set({0: 5}); q.LAST_CHECKPOINT.set_to_current_time()\n"
        "print(sum(l.startswith('authtrail_') for l in generate_latest(REGISTRY).decode().splitlines()))",
        AUTHTRAIL_METRICS_ENABLED="false",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"


def test_a_malformed_switch_fails_naming_the_variable() -> None:
    run = _python("import connect.transformer.metrics", AUTHTRAIL_METRICS_ENABLED="sometimes")
    assert run.returncode != 0
    assert "AUTHTRAIL_METRICS_ENABLED='sometimes' is not a boolean" in run.stderr
