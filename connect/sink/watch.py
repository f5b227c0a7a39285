"""``authtrail sink-watch``: keeps the MongoDB sink honest. Three duties, one process.

1. **Restart failed sink tasks.** Kafka Connect never restarts a FAILED task by itself and
   the MongoDB connector does not retry: a write that fails because the store is down
   (a socket or timeout error, not a data error) fails the task. Its records stay in the
   sink topic, uncommitted; restarting the task resumes from the committed offsets, so a
   store outage delays events and never dead-letters them. Restarts back off exponentially.

2. **Quarantine a record the sink cannot get past.** If the sink fails again without its
   committed offsets moving while records wait, and the store answers, the failure is the
   data, not an outage: ``connect/sink/quarantine.py`` writes the stuck window itself, dead-letters
   what the store refuses (``store_refused``) and moves the connector past it. One record
   never holds ingest for more than a few seconds.

3. **Reconcile the sink's dead-letter topic.** The sink writes insert-only (first write wins):
   a redelivered event fails with duplicate key (E11000) and Connect dead-letters it. Each
   such record is compared with the stored document (``connect/sink/verdicts.py``): same
   ``content_sha256`` → a harmless redelivery, counted and dropped; different → a *different*
   event reusing an id, forwarded to the human-facing DLQ (``id_conflict``) while the stored
   document stays as it was; a refused document → ``store_refused``. So ``audit.events.dlq``
   holds only what needs a person, and replays do not flood it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import bson
from confluent_kafka import Consumer, KafkaError, Message
from pymongo import MongoClient

from authtrail.errors import DependencyUnavailableError
from authtrail.heartbeat import Heartbeat
from authtrail.kafka.clients import consumer_config, producer_config
from authtrail.kafka.delivery import CheckedProducer, DeliveryError
from authtrail.kafka.offsets import BatchSpan, commit_stored
from authtrail.kafka.records import Partition, RawMessage, raw_message
from authtrail.kafka_connect import ConnectorClient, ConnectRequestError
from authtrail.logs import get_logger
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter_headers, header_map
from connect.sink.quarantine import SinkQuarantine
from connect.sink.verdicts import error_code, judge
from connect.sink.writes import SinkWriter

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0
MAX_RESTART_BACKOFF_S = 60.0
# Dead letters looked up per store query. Large on purpose: FerretDB cannot use an index for
# `_id: {$in: …}` (each lookup scans the collection) and a point lookup costs ~9 ms, so only
# big batches keep a full replay fast there. On MongoDB the lookup is an index probe.
RECONCILE_BATCH = 5000
QUARANTINE_MARKS = "sink_watch_quarantine"
QUARANTINE_CONTROL = "sink_watch_control"


# --- 1 + 2. task supervision and quarantine ------------------------------------------------
class ConnectorSupervisor:
    def __init__(self, connector: ConnectorClient, quarantine: SinkQuarantine, writer: SinkWriter) -> None:
        self.connector = connector
        self.quarantine = quarantine
        self.writer = writer
        self.restarts = 0
        self.quarantines = 0
        self._backoff_s = 1.0
        self._next_attempt = 0.0
        self._offsets_at_last_failure: dict[Partition, int] | None = None

    def check_once(self) -> str:
        """Look at the connector; restart or quarantine what failed (when the back-off allows).
        Returns the state seen: RUNNING, FAILED, MISSING, STOPPED, UNREACHABLE, …"""
        try:
            return self._check()
        except (DependencyUnavailableError, ConnectRequestError) as exc:
            log.warning("sink check failed", error=str(exc))
            return "UNREACHABLE"

    def _check(self) -> str:
        status = self.connector.status()
        if status is None:
            return "MISSING"
        if status.state == "STOPPED" and self.quarantine.resume_if_left_stopped():
            return "RESUMED"
        if status.state != "FAILED" and not status.failed_tasks:
            self._backoff_s = 1.0
            self._offsets_at_last_failure = None
            return "RUNNING" if status.tasks else status.state
        now = time.monotonic()
        if now < self._next_attempt:
            return "FAILED"
        self._next_attempt = now + self._backoff_s
        self._backoff_s = min(MAX_RESTART_BACKOFF_S, self._backoff_s * 2)
        offsets = self.connector.sink_offsets()
        # Stuck: a partition with records waiting whose committed offset has not moved since the
        # previous failure. (Healthy tasks may move their own partitions meanwhile.)
        previous = self._offsets_at_last_failure
        stuck = previous is not None and any(
            offsets.get(where) == previous.get(where) for where in self.quarantine.waiting(offsets)
        )
        self._offsets_at_last_failure = offsets
        if stuck and self._store_answers():
            self._quarantine(status.first_trace_line())
            return "QUARANTINED"
        log.warning(
            "sink failed; restarting failed parts",
            connector=self.connector.name,
            failed_tasks=[t["id"] for t in status.failed_tasks],
            cause=status.first_trace_line(),
            backoff_s=self._backoff_s,
        )
        self.connector.restart_failed()
        self.restarts += 1
        return "FAILED"

    def _store_answers(self) -> bool:
        try:
            self.writer.confirm_healthy()
        except DependencyUnavailableError:
            return False
        return True

    def _quarantine(self, cause: str) -> None:
        log.warning(
            "sink stuck on the same records; quarantining", connector=self.connector.name, cause=cause
        )
        try:
            report = self.quarantine.run()
        except (DependencyUnavailableError, DeliveryError, ConnectRequestError) as exc:
            log.warning("quarantine abandoned; offsets unchanged", error=str(exc))
            return
        self.quarantines += 1
        self._offsets_at_last_failure = None
        log.warning(
            "sink quarantine done",
            connector=self.connector.name,
            written=report.written,
            already_stored=report.already_stored,
            dead_lettered=[f"{t}[{p}]@{o} {reason}" for (t, p), o, reason in report.dead_lettered],
            moved={f"{t}[{p}]": f"{a}->{b}" for (t, p), (a, b) in report.moved.items()},
            quarantines=self.quarantines,
        )


# --- 3. sink DLQ reconciliation ----------------------------------------------------------------
class SinkDlqReconciler:
    def __init__(self, settings: Settings, writer: SinkWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.consumer = Consumer(
            consumer_config(settings, f"{settings.connector_name}-reconciler", "authtrail-sink-watch")
        )
        self.producer = CheckedProducer(producer_config(settings, "authtrail-sink-watch"))
        self.verdicts: Counter[str] = Counter()

    def start(self) -> None:
        self.consumer.subscribe([self.settings.sink_dlq_topic])

    def poll_once(self, timeout_s: float = 1.0) -> int:
        """Reconcile one batch; its offsets are stored only once every dead letter it produced
        was acknowledged. On any failure the batch is rewound and redone later."""
        raws = [
            raw_message(m)
            for m in self.consumer.consume(num_messages=RECONCILE_BATCH, timeout=timeout_s)
            if _ok(m)
        ]
        if not raws:
            return 0
        span = BatchSpan.of(raws)
        try:
            self._reconcile(raws)
            self.producer.flush(FLUSH_TIMEOUT_S)
        except (DependencyUnavailableError, DeliveryError):
            span.rewind(self.consumer)
            raise
        self.consumer.store_offsets(offsets=span.next_offsets())
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
            self.producer.produce(
                self.settings.dlq_topic,
                raw.key,
                raw.value,
                dead_letter_headers(failure, *source, raw.timestamp_ms, list(raw.headers)),
            )
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


def run_sink_watch(settings: Settings, stop: threading.Event) -> None:
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
    )
    database = mongo[settings.mongo_database]
    writer = SinkWriter(database[settings.mongo_collection], database[QUARANTINE_CONTROL])
    connector = ConnectorClient(settings.connect_url, settings.connector_name)
    quarantine = SinkQuarantine(
        connector=connector,
        writer=writer,
        producer=CheckedProducer(producer_config(settings, "authtrail-sink-quarantine")),
        marks=database[QUARANTINE_MARKS],
        consumer_config=consumer_config(settings, "authtrail-sink-quarantine", "authtrail-sink-quarantine"),
        sink_topic=settings.sink_topic,
        dlq_topic=settings.dlq_topic,
        window=settings.sink_quarantine_window,
    )
    supervisor = ConnectorSupervisor(connector, quarantine, writer)
    reconciler = SinkDlqReconciler(settings, writer)
    reconciler.start()
    log.info("sink watch started", connector=settings.connector_name, sink_dlq=settings.sink_dlq_topic)
    next_check = 0.0
    last_report = time.monotonic()
    heartbeat = Heartbeat(settings.heartbeat_file)
    try:
        while not stop.is_set():
            heartbeat.beat()
            if time.monotonic() >= next_check:
                supervisor.check_once()
                next_check = time.monotonic() + settings.sink_watch_interval_s
            try:
                reconciler.poll_once(timeout_s=min(1.0, settings.sink_watch_interval_s))
            except (DependencyUnavailableError, DeliveryError) as exc:
                log.warning("reconciliation paused", error=str(exc))
                stop.wait(2.0)
            if time.monotonic() - last_report > 10 and reconciler.verdicts:
                log.info("sink dead letters reconciled", restarts=supervisor.restarts, **reconciler.verdicts)
                reconciler.verdicts.clear()
                last_report = time.monotonic()
    finally:
        reconciler.close()
        mongo.close()
        log.info("sink watch stopped", restarts=supervisor.restarts, quarantines=supervisor.quarantines)
