"""Reading authtrail's metrics endpoints as Prometheus would: one scrape is a set of samples;
two scrapes give rates and, from histogram buckets, latency quantiles over the interval.

Used by ``authtrail top`` (the local stack has no Prometheus) and by the tests that check the
counters against what was really produced."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from authtrail.settings import Settings

SCRAPE_TIMEOUT_S = 1.5
# The endpoints of the services, in the order `authtrail top` shows them.
SERVICES = ("transformer", "sink-watch", "sealer", "api")
# The local stack's JVMs, served by the JMX exporter's Java agent (scripts/stack/jmx/).
JVMS = ("connect", "kafka")

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Samples:
    """One scrape of one endpoint: sample name (``…_total``, ``…_bucket``) → labels → value."""

    at: float
    values: dict[str, dict[Labels, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, at: float | None = None) -> Samples:
        values: dict[str, dict[Labels, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
        return cls(time.monotonic() if at is None else at, values)

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent: a labelled counter that never
        moved has no sample yet)."""
        return self.values.get(name, {}).get(frozenset(labels.items()), 0.0)

    def sum(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for have, v in self.values.get(name, {}).items() if wanted <= have)

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """``name`` summed per value of ``label`` (e.g. dead letters per reason)."""
        wanted = set(labels.items())
        out: dict[str, float] = {}
        for have, v in self.values.get(name, {}).items():
            key = dict(have).get(label)
            if key is not None and wanted <= have:
                out[key] = out.get(key, 0.0) + v
        return out

    def buckets(self, histogram: str, **labels: str) -> list[tuple[float, float]]:
        """Cumulative ``(le, count)`` of a histogram, summed over series that include ``labels``."""
        per_le: dict[float, float] = {}
        wanted = set(labels.items())
        for have, v in self.values.get(f"{histogram}_bucket", {}).items():
            if wanted <= have:
                le = float(dict(have)["le"])
                per_le[le] = per_le.get(le, 0.0) + v
        return sorted(per_le.items())


def scrape(url: str, timeout_s: float = SCRAPE_TIMEOUT_S) -> Samples:
    response = httpx.get(url, timeout=timeout_s)
    response.raise_for_status()
    return Samples.parse(response.text)


def endpoints(settings: Settings) -> dict[str, str]:
    """The metrics URL of each service these settings configure (the API's own port when it has
    no separate one; a disabled service is left out)."""
    host = settings.metrics_host if settings.metrics_host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    ports = {
        "transformer": settings.transformer_metrics_port,
        "sink-watch": settings.sink_watch_metrics_port,
        "sealer": settings.sealer_metrics_port,
    }
    urls = {name: f"http://{host}:{port}/metrics" for name, port in ports.items() if port}
    urls["api"] = (
        f"http://{host}:{settings.api_metrics_port}/metrics"
        if settings.api_metrics_port
        else f"{settings.api_url}/metrics"
    )
    return {name: urls[name] for name in SERVICES if name in urls}


def jmx_endpoints(settings: Settings) -> dict[str, str]:
    """The metrics URL of Kafka Connect's and the broker's JMX exporter agents (the local
    stack's; a port of 0 is left out)."""
    host = settings.metrics_host if settings.metrics_host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    ports = {"connect": settings.connect_jmx_metrics_port, "kafka": settings.kafka_jmx_metrics_port}
    return {name: f"http://{host}:{ports[name]}/metrics" for name in JVMS if ports[name]}


def rate(now: Samples, before: Samples | None, name: str, **labels: str) -> float | None:
    """Per second between two scrapes, of ``name`` summed over ``labels``; None without a
    previous scrape. A counter that went down (the service restarted) counts from zero."""
    if before is None or now.at <= before.at:
        return None
    current, previous = now.sum(name, **labels), before.sum(name, **labels)
    increase = current - previous if current >= previous else current
    return increase / (now.at - before.at)


def quantile(q: float, now: Samples, before: Samples | None, histogram: str, **labels: str) -> float | None:
    """The ``q`` quantile of what a histogram observed between two scrapes (without a previous
    scrape: since start), interpolated within its bucket as Prometheus' histogram_quantile
    does; None when nothing was observed."""
    current = now.buckets(histogram, **labels)
    previous = dict(before.buckets(histogram, **labels)) if before is not None else {}
    deltas = [(le, count - previous.get(le, 0.0)) for le, count in current]
    if any(d < 0 for _, d in deltas):  # a restart: count from zero
        deltas = current
    return bucket_quantile(q, deltas)


def bucket_quantile(q: float, cumulative: Iterable[tuple[float, float]]) -> float | None:
    buckets = list(cumulative)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_le  # above the highest finite bucket: its bound is what is known
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return lower_le
