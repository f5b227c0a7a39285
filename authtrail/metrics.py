"""Prometheus metrics: serving a service's metrics, and the pieces every service shares.

The metrics themselves are defined next to the code that counts them
(``connect/transformer/metrics.py``, ``connect/sink/metrics.py``, ``connect/sealer/metrics.py``,
``query_service/metrics.py``), with the official ``prometheus_client``, in its default registry.
Names follow Prometheus conventions: ``authtrail_<component>_…``, units in the name, ``_total``
counters, and only bounded labels (partition, reason, route template — never a user or event
id). Every metric, and what to do when it moves: ``docs/operations.md``.

Each long-running service serves its metrics on a port of its own (``<service>_metrics_port``
on ``metrics_host``), so the endpoint can be bound where only monitoring reaches it.

**Several API workers.** uvicorn's workers are separate processes, each counting for itself.
With ``api_workers > 1``, ``authtrail serve`` gives them a fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's own switch, read by the library in each
worker) and serves the sum of all workers from the parent process (:func:`component_registry`).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import TypeAdapter, ValidationError

from authtrail.errors import ConfigurationError
from authtrail.logs import get_logger
from authtrail.settings import ENV_PREFIX

log = get_logger(__name__)
# No `<counter>_created` series: they double what is stored, and Prometheus (or a rate()) needs
# only the counter; resets are seen from the counter itself.
disable_created_metrics()  # type: ignore[no-untyped-call]
# prometheus_client's own variable: set, its metrics live in files shared by worker processes.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets of everything authtrail times (seconds): from a fast index probe to the
# 5 s query limit and beyond, in roughly ×2.5 steps.
# A lag read that failed is tried again after this many intervals.
FAILED_REFRESH_BACKOFF = 6
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _counting_enabled() -> bool:
    """``AUTHTRAIL_METRICS_ENABLED`` (``Settings.metrics_enabled``), read once: metrics are
    defined when their modules are imported, before any command parses its settings."""
    raw = os.environ.get(f"{ENV_PREFIX}METRICS_ENABLED")
    try:
        return True if raw is None else TypeAdapter(bool).validate_python(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"{ENV_PREFIX}METRICS_ENABLED={raw!r} is not a boolean") from exc


COUNTING = _counting_enabled()


class _Uncounted:
    """Every metric while counting is switched off: each call does nothing (what the
    overhead benchmarks compare against, in the same run)."""

    def labels(self, *_: object, **__: object) -> _Uncounted:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def set_to_current_time(self) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def remove(self, *_: object) -> None:
        pass


_UNCOUNTED: Any = _Uncounted()


def counter(*args: Any, **kwargs: Any) -> Counter:
    """A ``prometheus_client.Counter``, or nothing at all when counting is off."""
    return Counter(*args, **kwargs) if COUNTING else cast(Counter, _UNCOUNTED)


def gauge(*args: Any, **kwargs: Any) -> Gauge:
    return Gauge(*args, **kwargs) if COUNTING else cast(Gauge, _UNCOUNTED)


def histogram(*args: Any, **kwargs: Any) -> Histogram:
    return Histogram(*args, **kwargs) if COUNTING else cast(Histogram, _UNCOUNTED)


@dataclass
class MetricsServer:
    """A running exposition endpoint (``GET /metrics`` on ``host:port``)."""

    host: str
    port: int
    server: WSGIServer
    thread: Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_metrics(host: str, port: int, setting: str, prefix: str) -> MetricsServer | None:
    """Serve this process's metrics of one component (names starting with ``prefix``, plus the
    process and Python collectors) on ``host:port`` from a background thread; None when
    ``port`` is 0 (disabled). A port already taken fails the service at start, naming the
    setting (``setting`` is the field name): missing metrics must not go unnoticed."""
    if port == 0:
        log.info("metrics endpoint disabled", metrics=prefix, setting=ENV_PREFIX + setting.upper())
        return None
    try:
        server, thread = start_http_server(port, addr=host, registry=component_registry(prefix))
    except OSError as exc:
        what = "in use" if exc.errno == errno.EADDRINUSE else f"unavailable ({exc.strerror})"
        raise ConfigurationError(
            f"metrics port {host}:{port} is {what}: set {ENV_PREFIX}{setting.upper()} "
            "to a free port, or 0 to disable it"
        ) from exc
    running = MetricsServer(host, server.server_port, server, thread)
    log.info("metrics endpoint started", metrics=prefix, url=running.url)
    return running


@contextmanager
def serving_metrics(host: str, port: int, setting: str, prefix: str) -> Iterator[MetricsServer | None]:
    """:func:`serve_metrics` for the life of a ``with`` block."""
    running = serve_metrics(host, port, setting, prefix)
    try:
        yield running
    finally:
        if running is not None:
            running.close()


class _ComponentView:
    """A registry's families less other components' ``authtrail_*`` ones: the one command line
    imports every module, so every process defines every component's metrics, but each
    endpoint shows only what its own service counts."""

    def __init__(self, source: Collector, prefix: str) -> None:
        self.source = source
        self.prefix = prefix

    def collect(self) -> Iterable[Metric]:
        for family in self.source.collect():
            if not family.name.startswith("authtrail_") or family.name.startswith(self.prefix):
                yield family


def component_registry(prefix: str) -> CollectorRegistry:
    """What an endpoint serves: this process's metrics of one component — or, when this process
    serves API workers in multiprocess mode, the sum of every worker's files."""
    directory = os.environ.get(MULTIPROCESS_DIR_ENV)
    if directory:
        source = CollectorRegistry()
        MultiProcessCollector(source, path=directory)  # type: ignore[no-untyped-call]
    else:
        source = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ComponentView(source, prefix))
    return registry


def multiprocess_directory(parent: Path) -> Path:
    """A fresh, empty directory for the workers' metric files under ``parent`` (counters start
    from zero with the server, as they do for a single process). The caller exports it as
    ``PROMETHEUS_MULTIPROC_DIR`` before the workers start."""
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob("api-metrics-*-*"):  # left by an API that was killed
        owner = stale.name.split("-")[2]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"api-metrics-{os.getpid()}-", dir=parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class PartitionGauge:
    """A per-partition gauge (consumer lag) refreshed at most every ``interval_s`` seconds:
    :meth:`refresh_if_due` is called from a service loop, and partitions no longer reported
    (revoked) are removed, so the label set stays what the process owns."""

    def __init__(
        self, gauge: Gauge, name: str, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gauge = gauge
        self.name = name
        self.interval_s = interval_s
        self._clock = clock
        self._next = 0.0
        self._shown: set[str] = set()
        self._failing = False

    def refresh_if_due(self, read: Callable[[], Mapping[int, int]]) -> bool:
        """Set the gauge from ``read()`` (partition → value) when due; True if it was read.
        A failed read (broker unreachable) leaves the last values; it is logged once, not at
        every attempt, and retried less often (a read may block its loop up to its timeout)."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        try:
            values = read()
        except Exception as exc:  # a metric must never stop the service it observes
            if not self._failing:
                log.warning("metric refresh failed; retrying less often", metric=self.name, error=repr(exc))
            self._failing = True
            self._next = now + self.interval_s * FAILED_REFRESH_BACKOFF
            return False
        if self._failing:
            log.info("metric refresh recovered", metric=self.name)
            self._failing = False
        self.set(values)
        return True

    def set(self, values: Mapping[int, int]) -> None:
        current = {str(partition) for partition in values}
        for gone in self._shown - current:
            self.gauge.remove(gone)
        for partition, value in values.items():
            self.gauge.labels(str(partition)).set(value)
        self._shown = current
