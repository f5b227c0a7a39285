"""The transformer's Prometheus metrics (served by ``authtrail consume`` on
``transformer_metrics_port``; every metric is described in ``docs/operations.md``).

Counted at the same places as its status line (``TransformerService.counts``): every record
consumed is forwarded, dead-lettered or dropped, so consumed = forwarded + dead-lettered +
dropped — except for batches rewound before anything was produced (the registry unavailable:
``authtrail_transformer_batch_rewinds_total{cause="dependency_unavailable"}``), whose records
are consumed again when redone. A batch rewound after a failed delivery is counted again in
full when redone. These count work done; the broker's committed offsets count records handed on.
"""

from __future__ import annotations

from authtrail.kafka.rejoin import REJOINS_HELP
from authtrail.metrics import LATENCY_BUCKETS_S, counter, gauge, histogram

CONSUMED = counter(
    "authtrail_transformer_records_consumed_total", "Records consumed from the raw topic (events, not EOFs)."
)
FORWARDED = counter(
    "authtrail_transformer_records_forwarded_total", "Records produced to the sink topic, transformed."
)
DEAD_LETTERED = counter(
    "authtrail_transformer_records_dead_lettered_total",
    "Records produced to the dead-letter topic, by reason (the dead letter's reason header).",
    ["reason"],
)
DROPPED = counter(
    "authtrail_transformer_records_dropped_total", "Records a configured Filter transform dropped."
)
INTERNAL_ERRORS = counter(
    "authtrail_transformer_internal_errors_total",
    "Records that failed with an unexpected error (dead-lettered as internal_error): a bug, not bad data.",
)
REWINDS = counter(
    "authtrail_transformer_batch_rewinds_total",
    "Batches rewound to be redone after a back-off, by cause.",
    ["cause"],
)
DELIVERY_FAILURES = counter(
    "authtrail_transformer_delivery_failures_total",
    "Produced records the broker did not acknowledge (their batch is redone).",
)
BATCH_DURATION = histogram(
    "authtrail_transformer_batch_duration_seconds",
    "From a batch consumed to its offsets stored: transform, produce and broker acknowledgement.",
    buckets=LATENCY_BUCKETS_S,
)
BATCH_RECORDS = histogram(
    "authtrail_transformer_batch_records",
    "Records per handled batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
CONSUMER_LAG = gauge(
    "authtrail_transformer_consumer_lag_records",
    "Records of the raw topic after this transformer's position, per assigned partition.",
    ["partition"],
)

# Causes of a rewind: a bounded set.
DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
DELIVERY_FAILED = "delivery_failed"
GROUP_REJOINS = counter("authtrail_transformer_group_rejoins_total", REJOINS_HELP)
