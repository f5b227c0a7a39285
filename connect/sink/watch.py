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

3. **Reconcile the sink's dead-letter topic** (``connect/sink/reconcile.py``): redeliveries are
   dropped, a different event reusing an id or a refused document goes to the human-facing DLQ.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pymongo import MongoClient

from authtrail.backoff import Backoff
from authtrail.errors import DependencyUnavailableError
from authtrail.heartbeat import Heartbeat
from authtrail.kafka.clients import consumer_config, observer, producer_config
from authtrail.kafka.delivery import CheckedProducer, DeliveryError
from authtrail.kafka.offsets import committed_lag
from authtrail.kafka.records import Partition
from authtrail.kafka_connect import ConnectorClient, ConnectorStatus, ConnectRequestError
from authtrail.logs import get_logger
from authtrail.metrics import PartitionGauge
from authtrail.settings import Settings
from connect.sink import metrics
from connect.sink.quarantine import SinkQuarantine
from connect.sink.reconcile import SinkDlqReconciler
from connect.sink.writes import SinkWriter

log = get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0
MAX_RESTART_BACKOFF_S = 60.0
QUARANTINE_MARKS = "sink_watch_quarantine"
QUARANTINE_CONTROL = "sink_watch_control"
# Reading the sink group's lag asks the broker; a down broker must not hold the watch long.
LAG_TIMEOUT_S = 2.0


# --- 1 + 2. task supervision and quarantine ------------------------------------------------
class ConnectorSupervisor:
    def __init__(self, connector: ConnectorClient, quarantine: SinkQuarantine, writer: SinkWriter) -> None:
        self.connector = connector
        self.quarantine = quarantine
        self.writer = writer
        self.restarts = 0
        self.quarantines = 0
        self._backoff = Backoff(first_s=1.0, max_s=MAX_RESTART_BACKOFF_S)
        self._next_attempt = 0.0
        self._offsets_at_last_failure: dict[Partition, int] | None = None
        self.last_state: str | None = None

    def check_once(self) -> str:
        """Look at the connector; restart or quarantine what failed (when the back-off allows).
        Returns the state seen: RUNNING, FAILED, MISSING, STOPPED, UNASSIGNED, UNREACHABLE, …
        Each change of state is one log line: a sink that stopped storing (its tasks unassigned
        after a rebalance, say) is visible in the log, not only in a metric."""
        try:
            state = self._check()
        except (DependencyUnavailableError, ConnectRequestError) as exc:
            log.warning("sink check failed", error=str(exc))
            state = "UNREACHABLE"
        metrics.CHECKS.labels(state).inc()
        metrics.CONNECTOR_RUNNING.set(state == "RUNNING")
        if state != self.last_state:
            report = log.info if state == "RUNNING" else log.warning
            report("sink state changed", connector=self.connector.name, state=state, was=self.last_state)
            self.last_state = state
        return state

    def _check(self) -> str:
        status = self.connector.status()
        if status is None:
            return "MISSING"
        metrics.FAILED_TASKS.set(len(status.failed_tasks))
        for state in metrics.TASK_STATES:
            metrics.TASKS.labels(state).set(sum(task.get("state") == state for task in status.tasks))
        if status.state == "STOPPED" and self.quarantine.resume_if_left_stopped():
            return "RESUMED"
        if status.state != "FAILED" and not status.failed_tasks:
            self._backoff.succeeded()
            self._offsets_at_last_failure = None
            return seen_state(status)
        now = time.monotonic()
        if now < self._next_attempt:
            return "FAILED"
        delay_s = self._backoff.failed()
        self._next_attempt = now + delay_s
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
            backoff_s=delay_s,
        )
        self.connector.restart_failed()
        self.restarts += 1
        metrics.TASK_RESTARTS.inc()
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
        metrics.QUARANTINES.inc()
        metrics.QUARANTINE_WRITTEN.inc(report.written + report.already_stored)
        for _, _, reason in report.dead_lettered:
            metrics.DEAD_LETTERED.labels(reason).inc()
        log.warning(
            "sink quarantine done",
            connector=self.connector.name,
            written=report.written,
            already_stored=report.already_stored,
            dead_lettered=[f"{t}[{p}]@{o} {reason}" for (t, p), o, reason in report.dead_lettered],
            moved={f"{t}[{p}]": f"{a}->{b}" for (t, p), (a, b) in report.moved.items()},
            quarantines=self.quarantines,
        )


def seen_state(status: ConnectorStatus) -> str:
    """RUNNING only when the connector and every task say so. Otherwise the connector's state,
    or — the connector RUNNING — the first task's that is not (a connector can be RUNNING with
    no tasks yet; and after a rebalance the status topic can still say tasks RUNNING that no
    worker runs, under a connector UNASSIGNED)."""
    if status.running:
        return "RUNNING"
    if status.state != "RUNNING":
        return status.state
    return next((t["state"] for t in status.tasks if t["state"] != "RUNNING"), "NO_TASKS")


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
    sink_lag = PartitionGauge(metrics.SINK_LAG, "sink lag", settings.metrics_lag_interval_s)
    try:
        with observer(settings, f"connect-{settings.connector_name}") as sink_group:
            while not stop.is_set():
                heartbeat.beat()
                if time.monotonic() >= next_check:
                    supervisor.check_once()
                    next_check = time.monotonic() + settings.sink_watch_interval_s
                sink_lag.refresh_if_due(lambda: committed_lag(sink_group, settings.sink_topic, LAG_TIMEOUT_S))
                try:
                    reconciler.poll_once(timeout_s=min(1.0, settings.sink_watch_interval_s))
                except (DependencyUnavailableError, DeliveryError) as exc:
                    log.warning("reconciliation paused", error=str(exc))
                    stop.wait(2.0)
                if time.monotonic() - last_report > 10 and reconciler.verdicts:
                    log.info(
                        "sink dead letters reconciled", restarts=supervisor.restarts, **reconciler.verdicts
                    )
                    reconciler.verdicts.clear()
                    last_report = time.monotonic()
    finally:
        reconciler.close()
        mongo.close()
        log.info("sink watch stopped", restarts=supervisor.restarts, quarantines=supervisor.quarantines)
