"""Reconcile the sink's dead-letter topic (sink-watch's third duty).

The sink writes insert-only (first write wins): a redelivered event fails with duplicate key
(E11000) and Kafka Connect dead-letters it to the sink DLQ. Each such record is judged against
the stored document (``connect/sink/verdicts.py``): a harmless redelivery is counted and
dropped; a different event reusing an id (``id_conflict``) or a refused document
(``store_refused``) goes to the human-facing DLQ with Connect's context. A batch's offsets are
stored only once every dead letter it produced was acknowledged; any failure rewinds it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import bson
from confluent_kafka import Consumer, KafkaError, Message

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.clients import consumer_config, producer_config
from authtrail.kafka.delivery import CheckedProducer, DeliveryError
from authtrail.kafka.offsets import BatchSpan, commit_stored
from authtrail.kafka.records import RawMessage, header_map, raw_message
from authtrail.kafka.rejoin import FetchStates, GroupRejoin
from authtrail.logs import get_logger
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter
from connect.sink import metrics
from connect.sink.verdicts import error_code, judge
from connect.sink.writes import SinkWriter

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0
# Dead letters looked up per store query: large, so a full replay of the sink topic costs few
# round trips (each lookup is one `_id: {$in: …}` query).
RECONCILE_BATCH = 5000


class SinkDlqReconciler:
    def __init__(self, settings: Settings, writer: SinkWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.group = f"{settings.connector_name}-reconciler"
        self._fetch_states = FetchStates()
        self.consumer = self._new_consumer()
        self.producer = CheckedProducer(producer_config(settings, "authtrail-sink-watch"))
        self.verdicts: Counter[str] = Counter()
        self._rejoin = GroupRejoin.for_service(
            settings,
            "sink-watch",
            self.group,
            self._new_consumer,
            self._subscribe,
            metrics.GROUP_REJOINS,
            self._fetch_states,
        )

    def start(self) -> None:
        self._subscribe(self.consumer)

    def _new_consumer(self) -> Consumer:
        config = consumer_config(self.settings, self.group, "authtrail-sink-watch")
        return Consumer({**config, **self._fetch_states.config()})

    def _subscribe(self, consumer: Consumer) -> None:
        consumer.subscribe([self.settings.sink_dlq_topic])

    def poll_once(self, timeout_s: float = 1.0) -> int:
        """Reconcile one batch; its offsets are stored only once every dead letter it produced
        was acknowledged. On any failure the batch is rewound and redone later."""
        self.consumer = self._rejoin.check(self.consumer)
        raws = [
            raw_message(m)
            for m in self.consumer.consume(num_messages=RECONCILE_BATCH, timeout=timeout_s)
            if _ok(m)
        ]
        if not raws:
            return 0
        started = time.perf_counter()
        span = BatchSpan.of(raws)
        try:
            self._reconcile(raws)
            self.producer.flush(FLUSH_TIMEOUT_S)
        except (DependencyUnavailableError, DeliveryError) as exc:
            span.rewind(self.consumer)
            if isinstance(exc, DeliveryError):
                metrics.DELIVERY_FAILURES.inc(exc.failed + exc.unacknowledged)
                metrics.RECONCILE_REWINDS.labels("delivery_failed").inc()
            else:
                metrics.RECONCILE_REWINDS.labels("dependency_unavailable").inc()
            raise
        self.consumer.store_offsets(offsets=span.next_offsets())
        metrics.RECONCILE_BATCH_DURATION.observe(time.perf_counter() - started)
        return len(raws)

    def _reconcile(self, raws: list[RawMessage]) -> None:
        documents = [_decode(r.value) for r in raws]
        stored = self.writer.stored_fingerprints([d["_id"] for d in documents if d and "_id" in d])
        for raw, document in zip(raws, documents, strict=True):
            headers = header_map(list(raw.headers))
            message = headers.get("__connect.errors.exception.message", "")
            record_id = document.get("_id") if document else None
            verdict = judge(
                error_code(message) if document is not None else None,
                message,
                record_id,
                document.get("content_sha256") if document else None,
                stored.get(record_id, False),
            )
            self.verdicts[verdict.kind] += 1
            metrics.SINK_DLQ_RECORDS.labels(verdict.kind).inc()
            if verdict.kind == "already_stored":
                continue
            failure = Failure(
                "sink", verdict.kind, verdict.detail, headers.get("__connect.errors.exception.class.name", "")
            )
            source = (
                headers.get("__connect.errors.topic", raw.topic),
                int(headers.get("__connect.errors.partition", raw.partition)),
                int(headers.get("__connect.errors.offset", raw.offset)),
            )
            letter = dead_letter(failure, raw, source)
            self.producer.produce(self.settings.dlq_topic, letter.key, letter.value, letter.headers)
            metrics.DEAD_LETTERED.labels(verdict.kind).inc()
            log.warning("sink record dead-lettered", reason=verdict.kind, id=record_id)

    def close(self) -> None:
        commit_stored(self.consumer, "shutdown")
        self.consumer.close()


def _ok(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error", error=str(error))
    return False


def _decode(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        return bson.decode(value)
    except (bson.errors.InvalidBSON, ValueError):
        return None
