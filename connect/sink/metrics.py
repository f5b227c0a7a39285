"""The sink watch's Prometheus metrics (served by ``authtrail sink-watch`` on
``sink_watch_metrics_port``; every metric: ``docs/operations.md``).

The sink itself runs in Kafka Connect; what authtrail sees of it is what the watch sees: the
connector's state at each check, the failed tasks it restarts, the stuck records it
quarantines, the sink group's lag, and the sink's dead letters it reconciles.
"""

from __future__ import annotations

from authtrail.kafka.rejoin import REJOINS_HELP
from authtrail.metrics import LATENCY_BUCKETS_S, counter, gauge, histogram

CONNECTOR_RUNNING = gauge(
    "authtrail_sink_watch_connector_running",
    "1 when the last check saw the sink connector and all of its tasks RUNNING, else 0.",
)
FAILED_TASKS = gauge(
    "authtrail_sink_watch_failed_tasks", "Sink tasks FAILED at the last check (before restarting them)."
)
TASKS = gauge(
    "authtrail_sink_watch_tasks",
    "Sink tasks by state at the last check (Kafka Connect's task states: RUNNING, FAILED, PAUSED, …).",
    ["state"],
)
TASK_STATES = ("RUNNING", "FAILED", "PAUSED", "UNASSIGNED", "RESTARTING")
CHECKS = counter(
    "authtrail_sink_watch_checks_total",
    "Connector checks, by the state seen (RUNNING, FAILED, QUARANTINED, MISSING, UNREACHABLE, …).",
    ["state"],
)
TASK_RESTARTS = counter(
    "authtrail_sink_watch_task_restarts_total", "Times the watch restarted the connector's failed parts."
)
QUARANTINES = counter(
    "authtrail_sink_watch_quarantines_total",
    "Quarantines run: records the sink could not get past, written or dead-lettered by the watch.",
)
QUARANTINE_WRITTEN = counter(
    "authtrail_sink_watch_quarantine_records_written_total",
    "Records a quarantine wrote to the store itself (or found already stored).",
)
SINK_DLQ_RECORDS = counter(
    "authtrail_sink_watch_sink_dlq_records_total",
    "Records reconciled from the sink's dead-letter topic, by verdict (already_stored: a redelivery).",
    ["verdict"],
)
DEAD_LETTERED = counter(
    "authtrail_sink_watch_records_dead_lettered_total",
    "Records the watch sent to the human-facing dead-letter topic, by reason (reconciled or quarantined).",
    ["reason"],
)
RECONCILE_REWINDS = counter(
    "authtrail_sink_watch_reconcile_rewinds_total",
    "Reconciliation batches rewound to be redone (store unavailable, or a dead letter not acknowledged).",
    ["cause"],
)
DELIVERY_FAILURES = counter(
    "authtrail_sink_watch_delivery_failures_total",
    "Dead letters the broker did not acknowledge (their batch is redone).",
)
RECONCILE_BATCH_DURATION = histogram(
    "authtrail_sink_watch_reconcile_batch_duration_seconds",
    "From a batch of sink dead letters consumed to its offsets stored.",
    buckets=LATENCY_BUCKETS_S,
)
SINK_LAG = gauge(
    "authtrail_sink_watch_sink_lag_records",
    "Records of the sink topic the connector has not committed yet, per partition.",
    ["partition"],
)
GROUP_REJOINS = counter("authtrail_sink_watch_group_rejoins_total", REJOINS_HELP)
