"""Reading an exposition as `authtrail top` does: samples by name and labels, rates between two
scrapes (a restarted service counts from zero), and latency quantiles from histogram buckets
interpolated as Prometheus' histogram_quantile does."""

from __future__ import annotations

import pytest

from authtrail.settings import load_settings
from scripts.scrape import Samples, bucket_quantile, endpoints, quantile, rate

EXPOSITION = """\
# HELP authtrail_transformer_records_dead_lettered_total x
# TYPE authtrail_transformer_records_dead_lettered_total counter
authtrail_transformer_records_dead_lettered_total{reason="not_avro_value"} 30.0
authtrail_transformer_records_dead_lettered_total{reason="missing_key"} 10.0
# HELP authtrail_api_request_duration_seconds x
# TYPE authtrail_api_request_duration_seconds histogram
authtrail_api_request_duration_seconds_bucket{le="0.01",route="/a",status="200"} 50.0
authtrail_api_request_duration_seconds_bucket{le="0.1",route="/a",status="200"} 90.0
authtrail_api_request_duration_seconds_bucket{le="+Inf",route="/a",status="200"} 100.0
authtrail_api_request_duration_seconds_count{route="/a",status="200"} 100.0
authtrail_api_request_duration_seconds_sum{route="/a",status="200"} 2.0
"""


def test_samples_by_labels_sums_and_groups() -> None:
    samples = Samples.parse(EXPOSITION, at=0.0)
    dead = "authtrail_transformer_records_dead_lettered_total"
    assert samples.value(dead, reason="missing_key") == 10
    assert samples.value(dead, reason="no such reason") == 0
    assert samples.sum(dead) == 40
    assert samples.by(dead, "reason") == {"not_avro_value": 30, "missing_key": 10}
    assert samples.buckets("authtrail_api_request_duration_seconds", route="/a") == [
        (0.01, 50),
        (0.1, 90),
        (float("inf"), 100),
    ]


def test_rates_between_scrapes_and_across_a_restart() -> None:
    before = Samples.parse(EXPOSITION, at=10.0)
    now = Samples.parse(EXPOSITION.replace("30.0", "50.0"), at=20.0)
    dead = "authtrail_transformer_records_dead_lettered_total"
    assert rate(now, None, dead) is None
    assert rate(now, before, dead) == 2.0
    restarted = Samples.parse(EXPOSITION.replace("30.0", "5.0").replace("10.0", "0.0"), at=20.0)
    assert rate(restarted, before, dead) == 0.5


def test_quantiles_interpolate_within_the_bucket() -> None:
    samples = Samples.parse(EXPOSITION, at=0.0)
    histogram = "authtrail_api_request_duration_seconds"
    assert quantile(0.5, samples, None, histogram) == pytest.approx(0.01)
    assert quantile(0.7, samples, None, histogram) == pytest.approx(0.01 + 0.09 * 20 / 40)
    assert quantile(0.99, samples, None, histogram) == pytest.approx(0.1)  # beyond the last bound
    assert quantile(0.5, samples, samples, histogram) is None  # nothing observed in between
    assert bucket_quantile(0.5, []) is None


def test_endpoints_follow_the_settings() -> None:
    settings = load_settings(
        metrics_host="0.0.0.0",  # noqa: S104 - an address to bind, shown as loopback to a local reader
        sealer_metrics_port=0,
        api_metrics_port=0,
        api_port=4100,
    )
    assert endpoints(settings) == {
        "transformer": "http://127.0.0.1:9411/metrics",
        "sink-watch": "http://127.0.0.1:9412/metrics",
        "api": "http://127.0.0.1:4100/metrics",
    }
