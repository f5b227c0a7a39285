"""``authtrail consume``: the transformer's consume → transform → produce → commit loop.

Delivery guarantee, by construction (at-least-once; the idempotent store makes it
exactly-once in effect):
1. consume a batch; 2. produce every outcome (sink or dead-letter topic) without waiting;
3. ``flush`` — wait until the broker acknowledged all of them (acks=all, idempotent);
4. only then *store* the batch's offsets; librdkafka commits stored offsets every second,
   and we commit synchronously on partition revoke and at shutdown.
If any delivery failed, or the registry could not be asked, the batch's partitions are
rewound to its first offsets and the batch is redone after a back-off — never skipped.
A crash between 3 and the next commit redelivers at most ~1 s of records; the sink stores
each event once whatever it receives.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.heartbeat import Heartbeat
from authtrail.logs import get_logger
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter_headers
from connect.transformer import EventTransformer, Forward, Outcome, RawMessage, RecordProcessor

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0
STATS_EVERY_S = 10.0
MAX_BACKOFF_S = 30.0


class TransformerError(AuthtrailError):
    """The transformer cannot go on (a fatal Kafka error); it exits without committing."""


class TransformerService:
    def __init__(
        self,
        settings: Settings,
        transformer: RecordProcessor,
        consumer: Consumer,
        producer_config: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.transformer = transformer
        self.consumer = consumer
        # Delivery reports for failures only: no per-record callback cost on success.
        self.producer = Producer(
            {**producer_config, "delivery.report.only.error": True, "on_delivery": self.delivery_failed}
        )
        self.counts: Counter[str] = Counter()
        self.dead_letter_reasons: Counter[str] = Counter()
        self._failed_deliveries = 0
        self._backoff_s = 0.0
        self._last_stats = time.monotonic()

    # --- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe([self.settings.raw_topic], on_revoke=self._on_revoke)
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
            clean = True
        finally:
            self._shutdown(clean)

    def handle_batch(self, batch: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        self._failed_deliveries = 0
        try:
            for message in batch:
                if self._is_event(message):
                    raw = raw_message(message)
                    first.setdefault((raw.topic, raw.partition), raw.offset)
                    last[(raw.topic, raw.partition)] = raw.offset
                    self._emit(raw, self._outcome(raw))
        except DependencyUnavailableError as exc:
            self._retry_later(first, f"{exc.component} unavailable: {exc.detail}")
            return
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        if remaining or self._failed_deliveries:
            self._retry_later(
                first, f"{self._failed_deliveries} deliveries failed, {remaining} unacknowledged"
            )
            return
        if last:
            self.consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        self.counts["batches"] += 1
        self._backoff_s = 0.0

    # --- one record ----------------------------------------------------------------------
    def _outcome(self, raw: RawMessage) -> Outcome:
        try:
            return self.transformer.process(raw)
        except DependencyUnavailableError:
            raise
        except Exception as exc:
            log.error(
                "record failed unexpectedly; dead-lettered",
                topic=raw.topic,
                partition=raw.partition,
                offset=raw.offset,
                error=repr(exc),
                traceback=traceback.format_exc(limit=8),
            )
            return Failure("internal", "internal_error", f"{type(exc).__name__}: {exc}", type(exc).__name__)

    def _emit(self, raw: RawMessage, outcome: Outcome) -> None:
        if isinstance(outcome, Forward):
            self._produce(self.settings.sink_topic, outcome.key, outcome.value, None)
            self.counts["forwarded"] += 1
        elif isinstance(outcome, Failure):
            headers = dead_letter_headers(
                outcome, raw.topic, raw.partition, raw.offset, raw.timestamp_ms, list(raw.headers)
            )
            self._produce(self.settings.dlq_topic, raw.key, raw.value, headers)
            self.counts["dead_lettered"] += 1
            self.dead_letter_reasons[outcome.reason] += 1
        else:
            self.counts["dropped"] += 1

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.05)

    def delivery_failed(self, error: KafkaError, message: Message) -> None:
        """Producer-level delivery callback (``delivery.report.only.error``): failures only."""
        self._failed_deliveries += 1
        log.error("delivery failed", topic=message.topic(), error=str(error))

    def _is_event(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            self.counts["consumed"] += 1
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        if error.fatal():
            raise TransformerError(f"fatal consumer error: {error}")
        log.warning("consumer error", error=str(error))
        return False

    # --- failure handling ----------------------------------------------------------------
    def _retry_later(self, first: dict[tuple[str, int], int], why: str) -> None:
        """Rewind the batch's partitions and back off; the batch is redone, never skipped."""
        self.producer.flush(FLUSH_TIMEOUT_S)
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # the partition was revoked meanwhile: its new owner redoes it
                log.info("rewind skipped", topic=topic, partition=partition, error=str(exc))
        self._backoff_s = min(MAX_BACKOFF_S, max(0.5, self._backoff_s * 2))
        self.counts["rewinds"] += 1
        log.warning("batch will be redone", reason=why, backoff_s=self._backoff_s)
        time.sleep(self._backoff_s)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        commit_stored(consumer, "revoke")

    def _shutdown(self, clean: bool) -> None:
        if clean:
            self.producer.flush(FLUSH_TIMEOUT_S)
            commit_stored(self.consumer, "shutdown")
        self.consumer.close()
        self._log_stats_if_due(force=True)
        log.info("transformer stopped", clean=clean)

    def _log_stats_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_stats < STATS_EVERY_S:
            return
        elapsed = max(now - self._last_stats, 1e-9)
        self._last_stats = now
        stats: dict[str, Any] = dict(self.counts)
        stats["rate_per_s"] = round(self.counts["consumed"] / elapsed, 1)
        if self.dead_letter_reasons:
            stats["dead_letter_reasons"] = dict(self.dead_letter_reasons)
        log.info("transformer progress", **stats)
        self.counts.clear()
        self.dead_letter_reasons.clear()


def commit_stored(consumer: Consumer, why: str) -> None:
    """Commit the stored offsets now (on revoke, at shutdown); nothing stored is fine."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            log.warning("commit failed", on=why, error=str(exc))


def raw_message(message: Message) -> RawMessage:
    """A consumed record as plain data (a record without error always has topic, partition, offset)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    kind, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return RawMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp if kind else None,
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else value,
        headers=tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs),
    )


def build_service(settings: Settings) -> TransformerService:
    """The transformer wired to the configured Kafka, registry and transform chain."""
    from authtrail.kafka import consumer_config, producer_config
    from connect.event_codec import RegistrySchemas

    transformer = EventTransformer.from_settings(settings, RegistrySchemas(settings.schema_registry_url))
    consumer = Consumer(
        consumer_config(
            settings,
            settings.transformer_group,
            "authtrail-transformer",
            **{
                "session.timeout.ms": settings.transformer_session_timeout_ms,
                "heartbeat.interval.ms": 1000,
                # Prefetch a few batches, not librdkafka's default 100,000 records per partition:
                # memory stays flat however far behind the transformer is.
                "queued.min.messages": settings.transformer_batch_size * 2,
                "queued.max.messages.kbytes": 16_384,
            },
        )
    )
    return TransformerService(
        settings, transformer, consumer, producer_config(settings, "authtrail-transformer")
    )
