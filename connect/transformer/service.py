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

from authtrail.contract import value_subject
from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.kafka.batch_service import BatchService
from authtrail.kafka.delivery import CheckedProducer, DeliveryError
from authtrail.kafka.offsets import BatchSpan
from authtrail.kafka.records import RawMessage, raw_message
from authtrail.kafka.rejoin import GroupRejoin, rejoining_batch_consumer
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter
from connect.transformer import metrics
from connect.transformer.event_transformer import EventTransformer, Forward, Outcome, RecordProcessor

FLUSH_TIMEOUT_S = 60.0


class TransformerError(AuthtrailError):
    """The transformer cannot go on (a fatal Kafka error, or a run of internal errors that
    points at a bug); it exits without storing the failing batch's offsets."""


class TransformerService(BatchService):
    name = "transformer"
    fatal = TransformerError

    def __init__(
        self,
        settings: Settings,
        transformer: RecordProcessor,
        consumer: Consumer,
        producer: CheckedProducer,
        sleep: Callable[[float], None] = time.sleep,
        rejoin: GroupRejoin | None = None,
    ) -> None:
        super().__init__(settings, consumer, settings.raw_topic, "consumed", metrics, sleep, rejoin)
        self.transformer = transformer
        self.producer = producer
        self.batch_size = settings.transformer_batch_size
        self.poll_timeout_s = settings.transformer_poll_timeout_s
        self.dead_letter_reasons: Counter[str] = Counter()
        self._internal_errors_in_a_row = 0

    # --- the loop ------------------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        self.log.info(
            "transformer started",
            raw_topic=self.settings.raw_topic,
            sink_topic=self.settings.sink_topic,
            group=self.settings.transformer_group,
            stages=[s.alias for s in self.transformer.chain.stages],
        )

    def step(self, batch: list[Message], stop: threading.Event) -> None:
        if batch:
            self.handle_batch(batch)
        self.producer.poll(0)

    def handle_batch(self, batch: list[Message]) -> bool:
        """Handle one ``consume()`` result; True if its offsets were stored, False if it was
        rewound to be redone."""
        records = [raw_message(m) for m in batch if self.is_record(m)]
        if not records:
            return True
        started = time.perf_counter()
        span = BatchSpan.of(records)
        try:
            outcomes = [self._outcome(record) for record in records]
        except DependencyUnavailableError as exc:
            self.redo_later(
                span,
                f"{exc.component} unavailable: {exc.detail}",
                metrics.REWINDS.labels(metrics.DEPENDENCY_UNAVAILABLE),
            )
            return False
        for record, outcome in zip(records, outcomes, strict=True):
            self._emit(record, outcome)
        try:
            self.producer.flush(FLUSH_TIMEOUT_S)
        except DeliveryError as exc:
            metrics.DELIVERY_FAILURES.inc(exc.failed + exc.unacknowledged)
            self.redo_later(span, str(exc), metrics.REWINDS.labels(metrics.DELIVERY_FAILED))
            return False
        self.consumer.store_offsets(offsets=span.next_offsets())
        self.counts["batches"] += 1
        self._backoff.succeeded()
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        metrics.BATCH_RECORDS.observe(len(records))
        return True

    def drain(self) -> None:
        try:
            self.producer.flush(FLUSH_TIMEOUT_S)
        except DeliveryError as exc:  # offsets of undelivered batches were never stored
            self.log.error("deliveries failed at shutdown", error=str(exc))

    def progress(self) -> dict[str, Any]:
        reasons = dict(self.dead_letter_reasons)
        self.dead_letter_reasons.clear()
        return {"dead_letter_reasons": reasons} if reasons else {}

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
        self.log.error(
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
            letter = dead_letter(outcome, raw)
            self.producer.produce(self.settings.dlq_topic, letter.key, letter.value, letter.headers)
            self.counts["dead_lettered"] += 1
            self.dead_letter_reasons[outcome.reason] += 1
            metrics.DEAD_LETTERED.labels(outcome.reason).inc()
        else:
            self.counts["dropped"] += 1
            metrics.DROPPED.inc()


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
        EventTransformer.from_settings(
            settings, RegistrySchemas.at(settings.schema_registry_url, value_subject(settings.raw_topic))
        ),
        consumer,
        CheckedProducer(producer_config(settings, "authtrail-transformer")),
        rejoin=rejoin,
    )
    return service
