"""Checked deliveries: ``flush()`` returning 0 does not mean delivered — only the delivery report
says so. A real librdkafka producer, pointed where no broker listens, shows both."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from authtrail.kafka.delivery import CheckedProducer, DeliveryError

NOWHERE = {"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 300, "log_level": 0}


def test_librdkafka_flush_reports_nothing_pending_for_a_message_that_failed() -> None:
    reports: list[object] = []
    producer = Producer({**NOWHERE, "on_delivery": lambda error, _: reports.append(error)})
    producer.produce("t", value=b"lost")
    assert producer.flush(10) == 0  # "nothing outstanding"…
    assert len(reports) == 1
    assert reports[0] is not None  # …because it failed


def test_a_failed_delivery_makes_flush_raise() -> None:
    producer = CheckedProducer(NOWHERE)
    producer.produce("t", b"k", b"lost")
    with pytest.raises(DeliveryError) as error:
        producer.flush(10)
    assert (error.value.failed, error.value.unacknowledged) == (1, 0)
    assert "timed out" in error.value.first_error


def test_the_failure_count_starts_again_after_each_flush() -> None:
    producer = CheckedProducer(NOWHERE)
    producer.produce("t", None, b"lost")
    with pytest.raises(DeliveryError):
        producer.flush(10)
    producer.flush(1)  # nothing produced since: nothing to report
