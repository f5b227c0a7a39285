"""``authtrail seal``: the sealing service — the sink topic in, each company's Merkle log and
signed checkpoints out (``authtrail/integrity``).

It reads the sink topic — the transformer's output, the pipeline's record of what it accepted
— in a consumer group of its own, never the store: a document written to the store by any
other means is never sealed, and a verifier reports it.

The loop, explicit like the transformer's:
1. consume a batch; decode each record's BSON into the API's view of the event and its leaf;
2. seal it (:class:`authtrail.integrity.sealing.Sealer`: journal → leaves → nodes → trees);
3. only then store the batch's offsets (committed within a second, on revoke and at shutdown);
4. between batches, when the interval is due, sign a checkpoint for every company whose tree
   grew (:class:`authtrail.integrity.checkpointer.Checkpointer`).
If the store fails mid-batch, every partition of the batch is rewound, the state re-read from
the store exactly as after a crash, and the batch redone after a back-off. A record that is
not an event of a company (undecodable, no company) is logged with its coordinates and
skipped: the sink cannot store it as an event either.

Run exactly one sealer per store: each company's log is one sequence. A second one stops at its
first step on state the other moved on (a leaf position taken: ``SealConflictError``; a
checkpoint ahead of its tree), and nothing is sealed twice (tested with one started mid-stream).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message
from pymongo import MongoClient

from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.integrity.checkpointer import Checkpointer
from authtrail.integrity.errors import LeafError
from authtrail.integrity.seal_store import MongoSealStore
from authtrail.integrity.sealing import Sealable, Sealer, decode_sealable
from authtrail.kafka.batch_service import BatchService
from authtrail.kafka.offsets import BatchSpan
from authtrail.kafka.records import RawMessage, raw_message
from authtrail.kafka.rejoin import GroupRejoin, rejoining_batch_consumer
from authtrail.settings import Settings
from connect.sealer import metrics

# Trees are saved this often (and before each checkpoint round), not per batch (sealing.py):
# what a crash leaves unsaved is re-read from the leaves at recovery, ~this many seconds' worth.
# A save rewrites every company's tree that grew (~1,000 documents at the seed's load), a burst
# the sink shares the store with: every 5 s it stalled inserts for seconds (bench sustained p99
# 0.9–2.9 s); every 30 s costs a recovery ~5 s of reading leaves.
SAVE_EVERY_S = 30.0


class SealerError(AuthtrailError):
    """The sealer cannot go on (a fatal Kafka error); it exits without storing the batch's offsets."""


class SealerService(BatchService):
    name = "sealer"
    fatal = SealerError

    def __init__(
        self,
        settings: Settings,
        sealer: Sealer,
        checkpointer: Checkpointer,
        consumer: Consumer,
        sleep: Callable[[float], None] = time.sleep,
        rejoin: GroupRejoin | None = None,
    ) -> None:
        super().__init__(settings, consumer, settings.sink_topic, "sealed", metrics, sleep, rejoin)
        self.sealer = sealer
        self.checkpointer = checkpointer
        self.batch_size = settings.sealer_batch_size
        self.poll_timeout_s = settings.sealer_poll_timeout_s
        self._next_checkpoint = time.monotonic() + settings.integrity_checkpoint_interval_s
        self._next_save = time.monotonic() + SAVE_EVERY_S

    def start(self, stop: threading.Event) -> None:
        self._recover(stop)
        self.log.info(
            "sealer started",
            sink_topic=self.settings.sink_topic,
            group=self.settings.sealer_group,
            key_id=self.checkpointer.key_id,
            checkpoint_interval_s=self.settings.integrity_checkpoint_interval_s,
        )

    def step(self, batch: list[Message], stop: threading.Event) -> None:
        if batch and not self.handle_batch(batch):
            self._recover(stop)
            return
        checkpoint_due = time.monotonic() >= self._next_checkpoint
        if (checkpoint_due or time.monotonic() >= self._next_save) and not self.save_state():
            self._recover(stop)
            return
        if checkpoint_due:
            self._checkpoint()

    def handle_batch(self, batch: list[Message]) -> bool:
        """Seal one ``consume()`` result; True if its offsets were stored, False if it was
        rewound (the caller recovers the state before the next batch)."""
        records = [raw_message(m) for m in batch if self.is_record(m)]
        if not records:
            return True
        started = time.perf_counter()
        span = BatchSpan.of(records)
        sealables = [s for s in (self._sealable(r) for r in records) if s is not None]
        try:
            report = self.sealer.seal(sealables)
        except DependencyUnavailableError as exc:
            self.redo_later(span, str(exc), metrics.REWINDS)
            return False
        # Everything the batch changed is in the store: its records need never come again.
        self.consumer.store_offsets(offsets=span.next_offsets())
        self._backoff.succeeded()
        self.counts["sealed"] += report.sealed
        self.counts["duplicates"] += report.duplicates
        metrics.SEALED.inc(report.sealed)
        metrics.DUPLICATES.inc(report.duplicates)
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        appended_ms = [r.timestamp_ms for r in records if r.timestamp_ms is not None]
        if appended_ms:
            metrics.SEALING_DELAY.observe(max(time.time() - min(appended_ms) / 1000, 0.0))
        for event_id, sealed_company, record_company in report.conflicts:
            self.counts["conflicts"] += 1
            metrics.CONFLICTS.inc()
            self.log.warning(
                "event id sealed before with other content; the first sealed version stays",
                event_id=event_id,
                sealed_company=sealed_company,
                record_company=record_company,
            )
        return True

    def _sealable(self, record: RawMessage) -> Sealable | None:
        try:
            return decode_sealable(record.value)
        except LeafError as exc:
            self.counts["unsealable"] += 1
            metrics.UNSEALABLE.inc()
            self.log.error(
                "record is not a company's event; not sealed",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return None

    def _recover(self, stop: threading.Event) -> None:
        """Read the state back from the store (at start, and after a failed batch), adopting
        what a crash left; waits out a store outage."""
        while True:
            try:
                recovery = self.sealer.recover()
                break
            except DependencyUnavailableError as exc:
                delay_s = self._backoff.failed()
                self.log.warning("sealer state unreadable; retrying", error=str(exc), backoff_s=delay_s)
                if stop.wait(delay_s):
                    raise
        self.checkpointer.reset(recovery.checkpoints)
        self.log.info(
            "sealer state recovered",
            companies=recovery.companies,
            leaves_adopted=recovery.adopted,
            leaves_dropped=recovery.dropped,
            leaves=sum(tree.size for tree in self.sealer.trees.values()),
        )

    def save_state(self) -> bool:
        """Save the trees that grew (with their latest checkpoints as hints); False if the store
        failed (the caller recovers: the leaves are stored, the state is rebuilt from them)."""
        self._next_save = time.monotonic() + SAVE_EVERY_S
        try:
            saved = self.sealer.save(self.checkpointer.latest_known())
        except DependencyUnavailableError as exc:
            delay_s = self._backoff.failed()
            self.log.warning("sealer state not saved; recovering", error=str(exc), backoff_s=delay_s)
            self._sleep(delay_s)
            return False
        self.counts["trees saved"] += saved
        return True

    def _checkpoint(self) -> None:
        """Sign every company's grown tree (all of them saved just before)."""
        self._next_checkpoint = time.monotonic() + self.settings.integrity_checkpoint_interval_s
        try:
            signed = self.checkpointer.run(self.sealer.trees)
        except DependencyUnavailableError as exc:
            self.log.warning("checkpoints postponed", error=str(exc))
            return
        if signed:
            self.counts["checkpoints"] += len(signed)
            metrics.CHECKPOINTS_SIGNED.inc(len(signed))
            metrics.LAST_CHECKPOINT.set_to_current_time()
            self.log.info(
                "checkpoints signed",
                companies=len(signed),
                key_id=self.checkpointer.key_id,
                largest_tree=max(s.checkpoint.tree_size for s in signed),
            )

    def drain(self) -> None:
        if self.save_state():
            self._checkpoint()

    def progress(self) -> dict[str, Any]:
        return {"companies": len(self.sealer.trees)}


def build_service(settings: Settings) -> tuple[SealerService, MongoClient[dict[str, Any]]]:
    """The sealer wired to the configured Kafka, store and signing key; the store client is
    the caller's to close."""
    from authtrail.integrity.signing_key import load_signing_key

    private_key = load_signing_key(settings)  # a missing key fails here, before anything starts
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
    )
    store = MongoSealStore(mongo[settings.mongo_database])
    store.ensure_indexes()

    service: SealerService
    consumer, rejoin = rejoining_batch_consumer(
        settings,
        "sealer",
        settings.sealer_group,
        settings.sealer_batch_size,
        lambda c: service.subscribe(c),
        metrics.GROUP_REJOINS,
    )
    service = SealerService(
        settings, Sealer(store), Checkpointer(store, private_key), consumer, rejoin=rejoin
    )
    return service, mongo
