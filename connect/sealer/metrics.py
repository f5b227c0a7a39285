"""The sealer's Prometheus metrics (served by ``authtrail seal`` on ``sealer_metrics_port``;
every metric: ``docs/operations.md``).

Sealing lag is shown two ways: records of the sink topic not sealed yet (per partition, like
the other consumers), and the time from a record's append to the sink topic to its sealing.
"""

from __future__ import annotations

from authtrail.kafka.rejoin import REJOINS_HELP
from authtrail.metrics import LATENCY_BUCKETS_S, counter, gauge, histogram

CONSUMED = counter("authtrail_sealer_records_consumed_total", "Records consumed from the sink topic.")
SEALED = counter(
    "authtrail_sealer_events_sealed_total", "Events appended to their company's Merkle log (each once)."
)
DUPLICATES = counter(
    "authtrail_sealer_duplicates_total",
    "Records whose event was already sealed with the same content (a redelivery, skipped).",
)
CONFLICTS = counter(
    "authtrail_sealer_conflicts_total",
    "Records reusing a sealed event's id with other content (the first sealed version stays).",
)
UNSEALABLE = counter(
    "authtrail_sealer_unsealable_records_total",
    "Records that are not a company's event (undecodable, no company): logged and skipped.",
)
CHECKPOINTS_SIGNED = counter(
    "authtrail_sealer_checkpoints_signed_total", "Checkpoints signed (one per company whose log grew)."
)
LAST_CHECKPOINT = gauge(
    "authtrail_sealer_last_checkpoint_timestamp_seconds",
    "When this sealer last signed a checkpoint (Unix time; 0 until it signs one).",
)
REWINDS = counter(
    "authtrail_sealer_batch_rewinds_total", "Batches rewound to be redone because the store failed."
)
BATCH_DURATION = histogram(
    "authtrail_sealer_batch_duration_seconds",
    "From a batch consumed to its offsets stored (decode, seal into the store).",
    buckets=LATENCY_BUCKETS_S,
)
SEALING_DELAY = histogram(
    "authtrail_sealer_sealing_delay_seconds",
    "From the oldest record of a sealed batch appended to the sink topic to the batch sealed.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
CONSUMER_LAG = gauge(
    "authtrail_sealer_consumer_lag_records",
    "Records of the sink topic after this sealer's position (not sealed yet), per assigned partition.",
    ["partition"],
)
GROUP_REJOINS = counter("authtrail_sealer_group_rejoins_total", REJOINS_HELP)
