"""The loop every consuming service of the pipeline runs around its own work (the transformer,
the sealer): a batch consumer in a group of its own, a heartbeat, a progress line every few
seconds, the consumer lag, the group-rejoin watch, stored offsets committed on revoke and at
shutdown, and a batch whose work could not be done rewound — never skipped — after a back-off.

A service says what a batch is (:meth:`BatchService.step`), what it does before the loop and
before a clean close, and what its progress line adds; offsets are its to store, once a batch's
work is acknowledged (``authtrail.kafka.offsets``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from confluent_kafka import Consumer, Message
from prometheus_client import Counter, Gauge

from authtrail.backoff import Backoff
from authtrail.errors import AuthtrailError
from authtrail.heartbeat import Heartbeat
from authtrail.kafka.offsets import BatchSpan, assigned_lag, commit_stored
from authtrail.kafka.records import is_record
from authtrail.kafka.rejoin import GroupRejoin
from authtrail.logs import get_logger
from authtrail.metrics import PartitionGauge
from authtrail.periodic_counts import PeriodicCounts
from authtrail.settings import Settings

PROGRESS_EVERY_S = 10.0
MAX_BACKOFF_S = 30.0


class Increments(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class ServiceMetrics(Protocol):
    """What the loop counts into a service's own metrics module."""

    CONSUMED: Counter
    CONSUMER_LAG: Gauge


class BatchService:
    name: ClassVar[str]  # in its log lines: "<name> started", "<name> progress", "<name> stopped"
    fatal: ClassVar[type[AuthtrailError]]  # raised on a fatal consumer error; the service exits
    batch_size: int  # per consume(), and how long it waits: set by the service from its settings
    poll_timeout_s: float

    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        topic: str,
        rate_of: str,
        metrics: ServiceMetrics,
        sleep: Callable[[float], None] = time.sleep,
        rejoin: GroupRejoin | None = None,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.topic = topic
        self.counts = PeriodicCounts(rate_of=rate_of, every_s=PROGRESS_EVERY_S)
        self._consumed = metrics.CONSUMED
        self._rejoin = rejoin
        self._backoff = Backoff(first_s=0.5, max_s=MAX_BACKOFF_S)
        self._sleep = sleep
        self._lag = PartitionGauge(metrics.CONSUMER_LAG, "consumer lag", settings.metrics_lag_interval_s)
        self.log = get_logger(type(self).__module__)

    # --- what a service says -------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        """Before the first batch (the consumer is subscribed after it)."""

    def step(self, batch: list[Message], stop: threading.Event) -> None:
        """One ``consume()`` result (possibly empty), and what is due between batches."""
        raise NotImplementedError

    def drain(self) -> None:
        """Before a clean close, ahead of the last commit."""

    def progress(self) -> dict[str, Any]:
        """What the progress line adds to the counts."""
        return {}

    # --- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        clean = False
        heartbeat = Heartbeat(self.settings.heartbeat_file)
        try:
            self.start(stop)
            self.subscribe(self.consumer)
            while not stop.is_set():
                heartbeat.beat()
                batch = self.consumer.consume(num_messages=self.batch_size, timeout=self.poll_timeout_s)
                self.step(batch, stop)
                self.log_progress_if_due()
                self._lag.refresh_if_due(lambda: assigned_lag(self.consumer))
                if self._rejoin is not None:
                    self.consumer = self._rejoin.check(self.consumer)
            clean = True
        finally:
            self._shutdown(clean)

    def subscribe(self, consumer: Consumer) -> None:
        consumer.subscribe([self.topic], on_revoke=self._on_revoke)

    def is_record(self, message: Message) -> bool:
        """Whether ``message`` is a record to work on (counted as consumed)."""
        if not is_record(message, self.fatal):
            return False
        self.counts["consumed"] += 1
        self._consumed.inc()
        return True

    def redo_later(self, span: BatchSpan, why: str, rewinds: Increments) -> None:
        """Rewind every partition of the batch and back off; the batch is redone, never skipped."""
        span.rewind(self.consumer)
        delay_s = self._backoff.failed()
        self.counts["rewinds"] += 1
        rewinds.inc()
        self.log.warning("batch will be redone", reason=why, partitions=len(span.first), backoff_s=delay_s)
        self._sleep(delay_s)

    def log_progress_if_due(self, force: bool = False) -> None:
        stats = self.counts.take_if_due(force)
        if stats is not None:
            self.log.info(f"{self.name} progress", **stats, **self.progress())

    def _on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        commit_stored(consumer, "revoke")

    def _shutdown(self, clean: bool) -> None:
        if clean:
            self.drain()
            commit_stored(self.consumer, "shutdown")
        self.consumer.close()
        self.log_progress_if_due(force=True)
        self.log.info(f"{self.name} stopped", clean=clean)
