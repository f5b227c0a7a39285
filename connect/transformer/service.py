"""``authtrail consume``: the transformer's consume → transform → produce → commit loop.

Delivery guarantee, by construction (at-least-once; the idempotent store makes it
exactly-once in effect):
1. consume a batch and work out every record's outcome — nothing is produced yet, so a
   registry outage half-way through leaves nothing behind to be duplicated;
2. produce every outcome (sink or dead-letter topic) without waiting;
3. ``flush`` — wait until the broker acknowledged all of them (acks=all, idempotent), and
   check every delivery report (a failed delivery is not "queued", see ``authtrail.kafka.delivery``);
4. only then *store* the batch's offsets; librdkafka commits stored offsets every second,
   and we commit synchronously on partition revoke and at shutdown.
If a delivery failed, or the registry could not be asked, *every* partition the batch
touched is rewound to its first offset in the batch and the batch is redone after a
back-off — never skipped (``authtrail.kafka.offsets``). A crash between 3 and the next commit
redelivers at most ~1 s of records; the sink stores each event once whatever it receives.

Errors that are not a bad record and not a down dependency are bugs: one is dead-lettered
as ``internal_error`` (the record is kept for replay), but a run of them stops the
transformer — exit status 1, the failing batch uncommitted — rather than quietly
dead-lettering all traffic while looking healthy.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message

from authtrail.backoff import Backoff
from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.heartbeat import Heartbeat
from authtrail.kafka.delivery import CheckedProducer, DeliveryError
from authtrail.kafka.offsets import BatchSpan, assigned_lag, commit_stored
from authtrail.kafka.records import RawMessage, is_record, raw_message
from authtrail.kafka.rejoin import GroupRejoin, rejoining_batch_consumer
from authtrail.logs import get_logger
from authtrail.metrics import PartitionGauge
from authtrail.periodic_counts import PeriodicCounts
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter_headers
from connect.transformer import metrics
from connect.transformer.event_transformer import EventTransformer, Forward, Outcome, RecordProcessor

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0
STATS_EVERY_S = 10.0
MAX_BACKOFF_S = 30.0


class TransformerError(AuthtrailError):
    """The transformer cannot go on (a fatal Kafka error, or a run of internal errors that
    points at a bug); it exits without storing the failing batch's offsets."""


class TransformerService:
    def __init__(
        self,
        settings: Settings,
        transformer: RecordProcessor,
        consumer: Consumer,
        producer: CheckedProducer,
        sleep: Callable[[float], None] = time.sleep,
        rejoin: GroupRejoin | None = None,
    ) -> None:
        self.settings = settings
        self.transformer = transformer
        self.consumer = consumer
        self.producer = producer
        self._rejoin = rejoin
        self.counts = PeriodicCounts(rate_of="consumed", every_s=STATS_EVERY_S)
        self.dead_letter_reasons: Counter[str] = Counter()
        self._internal_errors_in_a_row = 0
        self._backoff = Backoff(first_s=0.5, max_s=MAX_BACKOFF_S)
        self._sleep = sleep
        self._lag = PartitionGauge(metrics.CONSUMER_LAG, "consumer lag", settings.metrics_lag_interval_s)

    # --- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.subscribe(self.consumer)
        log.info(
            "transformer started",
            raw_topic=self.settings.raw_topic,
            sink_topic=self.settings.sink_topic,
            group=self.settings.transformer_group,
            stages=[s.alias for s in self.transformer.chain.stages],
        )
        clean = False
        heartbeat = Heartbeat(self.settings.heartbeat_file)
        try:
            while not stop.is_set():
                heartbeat.beat()
                batch = self.consumer.consume(
                    num_messages=self.settings.transformer_batch_size,
                    timeout=self.settings.transformer_poll_timeout_s,
                )
                if batch:
                    self.handle_batch(batch)
                self.producer.poll(0)
                self._log_stats_if_due()
                self._lag.refresh_if_due(lambda: assigned_lag(self.consumer))
                if self._rejoin is not None:
                    self.consumer = self._rejoin.check(self.consumer)
            clean = True
        finally:
            self._shutdown(clean)

    def handle_batch(self, batch: list[Message]) -> bool:
        """Handle one ``consume()`` result; True if its offsets were stored, False if it was
        rewound to be redone."""
        records = [raw_message(m) for m in batch if self._is_event(m)]
        if not records:
            return True
        started = time.perf_counter()
        span = BatchSpan.of(records)
        try:
            outcomes = [self._outcome(record) for record in records]
        except DependencyUnavailableError as exc:
            self._redo_later(
                span, f"{exc.component} unavailable: {exc.detail}", metrics.DEPENDENCY_UNAVAILABLE
            )
            return False
        for record, outcome in zip(records, outcomes, strict=True):
            self._emit(record, outcome)
        try:
            self.producer.flush(FLUSH_TIMEOUT_S)
        except DeliveryError as exc:
            metrics.DELIVERY_FAILURES.inc(exc.failed + exc.unacknowledged)
            self._redo_later(span, str(exc), metrics.DELIVERY_FAILED)
            return False
        self.consumer.store_offsets(offsets=span.next_offsets())
        self.counts["batches"] += 1
        self._backoff.succeeded()
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        metrics.BATCH_RECORDS.observe(len(records))
        return True

    # --- one record ----------------------------------------------------------------------
    def _outcome(self, raw: RawMessage) -> Outcome:
        try:
            outcome = self.transformer.process(raw)
        except DependencyUnavailableError:
            raise
        except Exception as exc:  # not a bad record (those are Failures), not a down dependency: a bug
            return self._internal_error(raw, exc)
        self._internal_errors_in_a_row = 0
        return outcome

    def _internal_error(self, raw: RawMessage, exc: Exception) -> Failure:
        self._internal_errors_in_a_row += 1
        metrics.INTERNAL_ERRORS.inc()
        log.error(
            "record failed unexpectedly",
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            error=repr(exc),
            in_a_row=self._internal_errors_in_a_row,
            traceback=traceback.format_exc(limit=8),
        )
        if self._internal_errors_in_a_row >= self.settings.transformer_max_internal_errors_in_a_row:
            raise TransformerError(
                f"{self._internal_errors_in_a_row} records in a row failed with internal errors "
                f"(last: {type(exc).__name__}: {exc}); stopping rather than dead-lettering all traffic"
            ) from exc
        return Failure("internal", "internal_error", f"{type(exc).__name__}: {exc}", type(exc).__name__)

    def _emit(self, raw: RawMessage, outcome: Outcome) -> None:
        if isinstance(outcome, Forward):
            self.producer.produce(self.settings.sink_topic, outcome.key, outcome.value)
            self.counts["forwarded"] += 1
            metrics.FORWARDED.inc()
        elif isinstance(outcome, Failure):
            headers = dead_letter_headers(
                outcome, raw.topic, raw.partition, raw.offset, raw.timestamp_ms, list(raw.headers)
            )
            self.producer.produce(self.settings.dlq_topic, raw.key, raw.value, headers)
            self.counts["dead_lettered"] += 1
            self.dead_letter_reasons[outcome.reason] += 1
            metrics.DEAD_LETTERED.labels(outcome.reason).inc()
        else:
            self.counts["dropped"] += 1
            metrics.DROPPED.inc()

    def _is_event(self, message: Message) -> bool:
        if not is_record(message, TransformerError):
            return False
        self.counts["consumed"] += 1
        metrics.CONSUMED.inc()
        return True

    # --- failure handling ----------------------------------------------------------------
    def _redo_later(self, span: BatchSpan, why: str, cause: str) -> None:
        """Rewind every partition of the batch and back off; the batch is redone, never skipped."""
        span.rewind(self.consumer)
        delay_s = self._backoff.failed()
        self.counts["rewinds"] += 1
        metrics.REWINDS.labels(cause).inc()
        log.warning("batch will be redone", reason=why, partitions=len(span.first), backoff_s=delay_s)
        self._sleep(delay_s)

    def subscribe(self, consumer: Consumer) -> None:
        consumer.subscribe([self.settings.raw_topic], on_revoke=self._on_revoke)

    def _on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        commit_stored(consumer, "revoke")

    def _shutdown(self, clean: bool) -> None:
        if clean:
            try:
                self.producer.flush(FLUSH_TIMEOUT_S)
            except DeliveryError as exc:  # offsets of undelivered batches were never stored
                log.error("deliveries failed at shutdown", error=str(exc))
            commit_stored(self.consumer, "shutdown")
        self.consumer.close()
        self._log_stats_if_due(force=True)
        log.info("transformer stopped", clean=clean)

    def _log_stats_if_due(self, force: bool = False) -> None:
        stats = self.counts.take_if_due(force)
        if stats is None:
            return
        if self.dead_letter_reasons:
            stats["dead_letter_reasons"] = dict(self.dead_letter_reasons)
        log.info("transformer progress", **stats)
        self.dead_letter_reasons.clear()


def build_service(settings: Settings) -> TransformerService:
    """The transformer wired to the configured Kafka, registry and transform chain."""
    from authtrail.kafka.clients import producer_config
    from connect.transformer.event_codec import RegistrySchemas

    service: TransformerService
    consumer, rejoin = rejoining_batch_consumer(
        settings,
        "transformer",
        settings.transformer_group,
        settings.transformer_batch_size,
        lambda c: service.subscribe(c),
        metrics.GROUP_REJOINS,
    )
    service = TransformerService(
        settings,
        EventTransformer.from_settings(settings, RegistrySchemas(settings.schema_registry_url)),
        consumer,
        CheckedProducer(producer_config(settings, "authtrail-transformer")),
        rejoin=rejoin,
    )
    return service
