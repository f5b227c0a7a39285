"""``authtrail sink-watch``: keeps the MongoDB sink honest. Two duties, one process.

1. **Restart failed sink tasks.** Kafka Connect never restarts a FAILED task by itself and
   the MongoDB connector does not retry: a write that fails because the store is down
   (a socket or timeout error, not a data error) fails the task. Its records stay in the
   sink topic, uncommitted; restarting the task resumes from the committed offsets, so a
   store outage delays events and never dead-letters them. Restarts back off exponentially.

2. **Reconcile the sink's dead-letter topic.** The sink writes insert-only (first write wins):
   a redelivered event fails with duplicate key (E11000) and Connect dead-letters it. Each
   such record is compared with the stored document: same ``content_sha256`` → a harmless
   redelivery, counted and dropped; different → a *different* event reusing an id, forwarded
   to the human-facing DLQ (reason ``id_conflict``) while the stored document stays as it
   was. Any other write error is forwarded as ``sink_write_error``. So ``audit.events.dlq``
   holds only what needs a person, and replays do not flood it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import bson
import httpx
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from authtrail.errors import DependencyUnavailableError
from authtrail.heartbeat import Heartbeat
from authtrail.kafka import consumer_config, producer_config
from authtrail.logs import get_logger
from authtrail.settings import Settings
from connect.dead_letter import Failure, dead_letter_headers, header_map
from connect.service import FLUSH_TIMEOUT_S, commit_stored, raw_message
from connect.transformer import RawMessage

log = get_logger(__name__)
DUPLICATE_KEY = 11000
_CODE = re.compile(r"\bcode=(\d+)")
MAX_RESTART_BACKOFF_S = 60.0
# Dead letters looked up per store query. Large on purpose: FerretDB cannot use an index for
# `_id: {$in: …}` (each lookup scans the collection) and a point lookup costs ~9 ms, so only
# big batches keep a full replay fast there. On MongoDB the lookup is an index probe.
RECONCILE_BATCH = 5000


# --- 1. task supervision -------------------------------------------------------------------
class ConnectorSupervisor:
    def __init__(self, connect_url: str, connector: str) -> None:
        self.connect_url = connect_url
        self.connector = connector
        self.restarts = 0
        self._backoff_s = 1.0
        self._next_restart = 0.0

    def check_once(self) -> str:
        """Look at the connector; restart what failed (when the back-off allows). Returns the
        state seen: RUNNING, FAILED, MISSING, UNREACHABLE, …"""
        try:
            response = httpx.get(f"{self.connect_url}/connectors/{self.connector}/status", timeout=5)
        except httpx.HTTPError as exc:
            log.warning("connect unreachable", error=str(exc))
            return "UNREACHABLE"
        if response.status_code == 404:
            return "MISSING"
        status = response.json()
        failed_tasks = [t for t in status.get("tasks", []) if t["state"] == "FAILED"]
        if status["connector"]["state"] != "FAILED" and not failed_tasks:
            self._backoff_s = 1.0
            return "RUNNING" if status.get("tasks") else status["connector"]["state"]
        now = time.monotonic()
        if now < self._next_restart:
            return "FAILED"
        cause = (failed_tasks[0].get("trace") if failed_tasks else status["connector"].get("trace")) or ""
        log.warning(
            "sink failed; restarting failed parts",
            connector=self.connector,
            failed_tasks=[t["id"] for t in failed_tasks],
            cause=cause.splitlines()[0][:300] if cause else "",
            backoff_s=self._backoff_s,
        )
        try:
            httpx.post(
                f"{self.connect_url}/connectors/{self.connector}/restart",
                params={"includeTasks": "true", "onlyFailed": "true"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            log.warning("restart request failed", error=str(exc))
        self.restarts += 1
        self._next_restart = now + self._backoff_s
        self._backoff_s = min(MAX_RESTART_BACKOFF_S, self._backoff_s * 2)
        return "FAILED"


# --- 2. sink DLQ reconciliation ----------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    kind: str  # "already_stored" | "id_conflict" | "sink_write_error"
    detail: str


def classify(
    exception_message: str, document: dict[str, Any] | None, stored: dict[str, Any] | None
) -> Verdict:
    """Pure decision for one sink dead-letter record."""
    match = _CODE.search(exception_message)
    code = int(match.group(1)) if match else None
    if code != DUPLICATE_KEY or document is None:
        return Verdict("sink_write_error", exception_message[:500] or "unknown sink write error")
    if stored is None:
        return Verdict(
            "sink_write_error", f"duplicate key but no stored document with _id {document.get('_id')!r}"
        )
    if stored.get("content_sha256") == document.get("content_sha256"):
        return Verdict("already_stored", "redelivery of an event stored with identical content")
    return Verdict(
        "id_conflict",
        f"event id {document.get('_id')!r} is already stored with different content "
        f"(stored {stored.get('content_sha256')}, rejected {document.get('content_sha256')}); "
        "the stored event was kept",
    )


class SinkDlqReconciler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = Consumer(
            consumer_config(settings, f"{settings.connector_name}-reconciler", "authtrail-sink-watch")
        )
        self.producer = Producer(producer_config(settings, "authtrail-sink-watch"))
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(
            settings.mongo_uri.get_secret_value(),
            serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
        )
        self.collection = self.mongo[settings.mongo_database][settings.mongo_collection]
        self.verdicts: Counter[str] = Counter()

    def start(self) -> None:
        self.consumer.subscribe([self.settings.sink_dlq_topic])

    def poll_once(self, timeout_s: float = 1.0) -> int:
        raws = [
            raw_message(m)
            for m in self.consumer.consume(num_messages=RECONCILE_BATCH, timeout=timeout_s)
            if _ok(m)
        ]
        if not raws:
            return 0
        try:
            self._reconcile(raws)
        except DependencyUnavailableError:
            # Redo the batch later: rewind to its first offsets, never skip it.
            first: dict[tuple[str, int], int] = {}
            for raw in raws:
                first.setdefault((raw.topic, raw.partition), raw.offset)
            for (topic, partition), offset in first.items():
                self.consumer.seek(TopicPartition(topic, partition, offset))
            raise
        last: dict[tuple[str, int], int] = {}
        for raw in raws:
            last[(raw.topic, raw.partition)] = raw.offset
        self.consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        return len(raws)

    def _reconcile(self, raws: list[RawMessage]) -> None:
        documents = [_decode(r.value) for r in raws]
        try:
            stored = self._stored([d["_id"] for d in documents if d and "_id" in d])
        except PyMongoError as exc:
            raise DependencyUnavailableError("store", str(exc)) from exc
        for raw, document in zip(raws, documents, strict=True):
            headers = header_map(list(raw.headers))
            verdict = classify(
                headers.get("__connect.errors.exception.message", ""),
                document,
                stored.get(document.get("_id")) if document else None,
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
                key=raw.key,
                value=raw.value,
                headers=dead_letter_headers(failure, *source, raw.timestamp_ms, list(raw.headers)),
            )
            log.warning(
                "sink record dead-lettered", reason=verdict.kind, id=document.get("_id") if document else None
            )
        if self.producer.flush(FLUSH_TIMEOUT_S):
            raise DependencyUnavailableError("kafka", "dead-letter deliveries not acknowledged")

    def _stored(self, ids: list[Any]) -> dict[Any, dict[str, Any]]:
        if not ids:
            return {}
        return {doc["_id"]: doc for doc in self.collection.find({"_id": {"$in": ids}}, {"content_sha256": 1})}

    def close(self) -> None:
        commit_stored(self.consumer, "shutdown")
        self.consumer.close()
        self.producer.flush(FLUSH_TIMEOUT_S)
        self.mongo.close()


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
    supervisor = ConnectorSupervisor(settings.connect_url, settings.connector_name)
    reconciler = SinkDlqReconciler(settings)
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
            except DependencyUnavailableError as exc:
                log.warning("reconciliation paused", error=str(exc))
                stop.wait(2.0)
            if time.monotonic() - last_report > 10 and reconciler.verdicts:
                log.info("sink dead letters reconciled", restarts=supervisor.restarts, **reconciler.verdicts)
                reconciler.verdicts.clear()
                last_report = time.monotonic()
    finally:
        reconciler.close()
        log.info("sink watch stopped", restarts=supervisor.restarts)
