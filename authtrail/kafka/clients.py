"""librdkafka configurations of every authtrail client, built from settings in one place.

The settings these guarantees rest on are named here: producers use acks=all with
idempotence (librdkafka's default is off); consumers never auto-store offsets — the
transformer stores an offset only after everything it produced for it was acknowledged.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]  # not re-exported in stubs

__all__ = [
    "MAX_RECORD_BYTES",
    "ConfigResource",
    "NewTopic",
    "admin_client",
    "batch_consumer_config",
    "consumer_config",
    "observer",
    "producer_config",
]


from authtrail.settings import Settings

_librdkafka_log = logging.getLogger("librdkafka")

# The largest record an authtrail producer sends and a dead-letter topic takes (authtrail/topics.py).
# A dead letter is a refused record plus headers, so it must be allowed more than any source
# topic takes: Kafka's default is 1,048,588 bytes (a batch, compressed), librdkafka's 1,000,000
# (a record, uncompressed) — a record a default producer just managed to send could not have
# been dead-lettered, and the transformer would have stopped at it (connect/dead_letter.py).
MAX_RECORD_BYTES = 8 * 1024 * 1024


def _common(settings: Settings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": f"{client_id}@{socket.gethostname()}",
        "logger": _librdkafka_log,
    }


def producer_config(settings: Settings, client_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        **_common(settings, client_id),
        "acks": "all",
        "enable.idempotence": True,  # retries after a broker restart neither duplicate nor reorder
        # Java clients' partitioner: every producer, in any language, sends a user to the same partition.
        "partitioner": "murmur2_random",
        "linger.ms": 10,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        # A broker restart is ridden out by retries within this window; past it, a delivery
        # fails and is reported (never dropped silently).
        "message.timeout.ms": 120_000,
        "message.max.bytes": MAX_RECORD_BYTES,
        **overrides,
    }


def consumer_config(settings: Settings, group: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    # Offsets are committed (every interval, on revoke and at shutdown) only once stored,
    # and stored only after the batch's outputs were acknowledged: at-least-once.

    return {
        **_common(settings, client_id),
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": settings.transformer_commit_interval_ms,
        "isolation.level": "read_committed",
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65536,
        **overrides,
    }


def batch_consumer_config(settings: Settings, group: str, client_id: str, batch_size: int) -> dict[str, Any]:
    """A long-running service's consumer (transformer, sealer): a crashed member's partitions
    move on after ``transformer_session_timeout_ms``, and it prefetches a few batches, not
    librdkafka's default 100,000 records per partition — memory stays flat however far
    behind it is."""
    return consumer_config(
        settings,
        group,
        client_id,
        **{
            "session.timeout.ms": settings.transformer_session_timeout_ms,
            "heartbeat.interval.ms": 1000,
            "queued.min.messages": batch_size * 2,
            "queued.max.messages.kbytes": 16_384,
        },
    )


def admin_client(settings: Settings, **overrides: Any) -> AdminClient:
    return AdminClient({**_common(settings, "authtrail-admin"), **overrides})


def group_member_ids(settings: Settings, group: str, timeout_s: float = 10.0) -> set[str]:
    """The member ids the group coordinator lists for ``group`` right now (empty: nobody is
    consuming)."""
    admin = admin_client(settings)  # held until the answer: a future dies with its client
    described = admin.describe_consumer_groups([group], request_timeout=timeout_s)
    return {member.member_id for member in described[group].result(timeout=timeout_s).members}


def group_members(settings: Settings, group: str, timeout_s: float = 10.0) -> int:
    """How many consumers are in ``group`` right now (0: nobody is consuming)."""
    return len(group_member_ids(settings, group, timeout_s))


@contextmanager
def observer(settings: Settings, group: str = "authtrail-observer") -> Iterator[Consumer]:
    """A consumer that never subscribes or commits: for metadata, watermarks and a group's
    committed offsets (``group`` is the group whose offsets are asked about)."""
    consumer = Consumer(
        {**_common(settings, "authtrail-observer"), "group.id": group, "enable.auto.commit": False}
    )
    try:
        yield consumer
    finally:
        consumer.close()
