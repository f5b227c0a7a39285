"""librdkafka configurations of every authtrail client, built from settings in one place.

The settings these guarantees rest on are named here: producers use acks=all with
idempotence (librdkafka's default is off); consumers never auto-store offsets — the
transformer stores an offset only after everything it produced for it was acknowledged.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]  # not re-exported in stubs

__all__ = ["ConfigResource", "NewTopic", "admin_client", "consumer_config", "consumer_lag", "producer_config"]


from authtrail.settings import Settings

_librdkafka_log = logging.getLogger("librdkafka")


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


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(_common(settings, "authtrail-admin"))


def topic_end(settings: Settings, topic: str) -> int:
    """Records written to ``topic`` so far (sum of its partitions' end offsets)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**_common(settings, "authtrail-watermarks"), "group.id": "authtrail-watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        )
    finally:
        consumer.close()


def consumer_lag(settings: Settings, group: str, topic: str) -> int:
    """Records of ``topic`` not yet committed by ``group`` (what the broker holds, summed)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {**_common(settings, "authtrail-lag"), "group.id": group, "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        lag = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        consumer.close()
