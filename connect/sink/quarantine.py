"""Quarantine: take the record a stalled MongoDB sink cannot get past out of its way.

The connector tolerates *data* errors (per-document write errors go to the sink DLQ), but a
store that refuses a whole insert command fails the task, and restarting it replays the same
batch forever: one record would halt ingest behind it for good. The transformer keeps such
documents out of the sink topic (``connect/transformer/storable.py``); this is the net for whatever gets
there anyway — another producer, another store's rules, a bug.

When the supervisor sees the sink failed twice without its committed offsets moving while
records wait, and the store answers, it runs :meth:`SinkQuarantine.run` (KIP-875):

1. mark the quarantine in the store, then STOP the connector (its tasks commit what they wrote);
2. read, per partition, the next ``window`` records after the committed offset;
3. write them itself, exactly as the connector would (``connect/sink/writes.py``), bisecting a
   refused command down to the record the store refuses;
4. dead-letter what was refused (``store_refused``, the store's message) or conflicts
   (``id_conflict``), and wait until the broker acknowledged those dead letters;
5. only then move the connector's offsets past the window, and RESUME it; unmark.

Nothing is skipped without being stored or dead-lettered first; any failure before step 5
leaves the offsets where they were (the connector redoes the window; inserts are idempotent).
A crash between 1 and 5 leaves the connector STOPPED with the mark set: the next sink-watch
resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
from confluent_kafka import Consumer
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.delivery import CheckedProducer
from authtrail.kafka.records import Partition, RawMessage, partition_bounds, read_ranges
from authtrail.kafka_connect import ConnectorClient
from authtrail.logs import get_logger
from connect.dead_letter import Failure, dead_letter
from connect.sink.verdicts import DUPLICATE_KEY, judge
from connect.sink.writes import SinkWriter

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0


@dataclass
class QuarantineReport:
    written: int = 0
    already_stored: int = 0
    dead_lettered: list[tuple[Partition, int, str]] = field(default_factory=list)  # where, offset, reason
    moved: dict[Partition, tuple[int, int]] = field(default_factory=dict)  # from, to


class SinkQuarantine:
    def __init__(
        self,
        connector: ConnectorClient,
        writer: SinkWriter,
        producer: CheckedProducer,
        marks: Collection[Any],
        consumer_config: dict[str, Any],
        sink_topic: str,
        dlq_topic: str,
        window: int,
    ) -> None:
        self.connector = connector
        self.writer = writer
        self.producer = producer
        self.marks = marks
        self.consumer_config = consumer_config
        self.sink_topic = sink_topic
        self.dlq_topic = dlq_topic
        self.window = window

    def run(self) -> QuarantineReport:
        self._mark()
        self.connector.stop()
        try:
            report = self._handle_windows()
        finally:
            self.connector.resume()
        self._unmark()
        return report

    def resume_if_left_stopped(self) -> bool:
        """A quarantine interrupted by a crash left the connector STOPPED: resume it."""
        try:
            marked = self.marks.find_one({"_id": self.connector.name}) is not None
        except PyMongoError as exc:
            raise DependencyUnavailableError("store", str(exc)) from exc
        status = self.connector.status()
        if not marked or status is None or status.state != "STOPPED":
            return False
        log.warning(
            "resuming a connector an interrupted quarantine left stopped", connector=self.connector.name
        )
        self.connector.resume()
        self._unmark()
        return True

    def waiting(self, committed: dict[Partition, int]) -> set[Partition]:
        """Sink partitions with records after their committed offset."""
        return {where for where, (start, end) in self._pending(committed).items() if end > start}

    def _pending(self, committed: dict[Partition, int]) -> dict[Partition, tuple[int, int]]:
        probe = Consumer({**self.consumer_config, "enable.auto.commit": False})
        try:
            bounds = partition_bounds(probe, self.sink_topic)
        finally:
            probe.close()
        # Never committed: the connector starts at the beginning (auto.offset.reset=earliest).
        return {where: (max(committed.get(where, low), low), high) for where, (low, high) in bounds.items()}

    # --- steps -------------------------------------------------------------------------
    def _handle_windows(self) -> QuarantineReport:
        pending = self._pending(self.connector.sink_offsets())
        ranges = {where: (start, min(end, start + self.window)) for where, (start, end) in pending.items()}
        windows = read_ranges(self.consumer_config, ranges)
        report = QuarantineReport()
        for where, records in windows.items():
            if records:
                self._write(records, report)
                report.moved[where] = ranges[where]
        self.producer.flush(FLUSH_TIMEOUT_S)  # raises DeliveryError: then nothing moves
        if report.moved:
            self.connector.alter_sink_offsets({where: end for where, (_, end) in report.moved.items()})
        return report

    def _write(self, records: list[RawMessage], report: QuarantineReport) -> None:
        written = self.writer.write(records)
        report.written += written.stored
        for refusal in written.refused:
            self._dead_letter(refusal.record, "store_refused", refusal.message, refusal.code, report)
        if written.duplicates:
            documents = {id(r): bson.decode(r.value or b"") for r in written.duplicates}
            stored = self.writer.stored_fingerprints([d["_id"] for d in documents.values()])
            for record in written.duplicates:
                document = documents[id(record)]
                verdict = judge(
                    DUPLICATE_KEY,
                    "",
                    document["_id"],
                    document.get("content_sha256"),
                    stored.get(document["_id"], False),
                )
                if verdict.kind == "already_stored":
                    report.already_stored += 1
                else:
                    self._dead_letter(record, verdict.kind, verdict.detail, DUPLICATE_KEY, report)

    def _dead_letter(
        self, record: RawMessage, reason: str, detail: str, code: int | None, report: QuarantineReport
    ) -> None:
        failure = Failure("sink", reason, detail, "quarantine" if code is None else f"store error {code}")
        letter = dead_letter(failure, record)
        self.producer.produce(self.dlq_topic, letter.key, letter.value, letter.headers)
        report.dead_lettered.append(((record.topic, record.partition), record.offset, reason))
        log.warning(
            "sink record quarantined",
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            detail=detail[:300],
        )

    def _mark(self) -> None:
        try:
            self.marks.replace_one(
                {"_id": self.connector.name},
                {"_id": self.connector.name, "started_at": datetime.now(UTC)},
                upsert=True,
            )
        except PyMongoError as exc:
            raise DependencyUnavailableError("store", str(exc)) from exc

    def _unmark(self) -> None:
        try:
            self.marks.delete_one({"_id": self.connector.name})
        except PyMongoError as exc:
            log.warning("quarantine mark not removed", error=str(exc))
