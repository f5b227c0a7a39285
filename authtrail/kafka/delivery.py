"""A Kafka producer whose ``flush`` says whether everything produced was acknowledged.

librdkafka's ``flush()`` returns how many messages are still *queued*; a message that failed
for good (``message.timeout.ms`` elapsed, topic deleted, record too large) is no longer
queued, so ``flush()`` returns 0 for it. Only the delivery report tells. Every authtrail
component that stores offsets or prints "sent N" after producing goes through this class,
so none of them can mistake "nothing queued" for "everything delivered".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from authtrail.errors import AuthtrailError
from authtrail.logs import get_logger

log = get_logger(__name__)
Headers = list[tuple[str, str | bytes | None]]


class DeliveryError(AuthtrailError):
    """Some produced messages were not acknowledged by the broker."""

    def __init__(self, failed: int, unacknowledged: int, first_error: str) -> None:
        super().__init__(
            f"{failed} deliveries failed, {unacknowledged} unacknowledged"
            + (f" (first error: {first_error})" if first_error else "")
        )
        self.failed = failed
        self.unacknowledged = unacknowledged
        self.first_error = first_error


class CheckedProducer:
    """Wraps a ``Producer`` built from ``config``: failures are counted from delivery reports
    (reported for failures only, so success costs nothing), and :meth:`flush` raises
    :class:`DeliveryError` if anything produced since the previous flush was not delivered."""

    def __init__(self, config: dict[str, Any], factory: Callable[[dict[str, Any]], Any] = Producer) -> None:
        self._producer = factory({**config, "delivery.report.only.error": True, "on_delivery": self._report})
        self._failed = 0
        self._first_error = ""

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, headers=headers)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)

    def poll(self, timeout_s: float = 0) -> None:
        self._producer.poll(timeout_s)

    def flush(self, timeout_s: float) -> None:
        """Wait for every outstanding delivery; raise unless all were acknowledged. The failure
        count starts again from zero either way."""
        remaining = self._producer.flush(timeout_s)
        failed, first_error = self._failed, self._first_error
        self._failed, self._first_error = 0, ""
        if remaining or failed:
            raise DeliveryError(failed, remaining, first_error)

    def _report(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        self._failed += 1
        if not self._first_error:
            self._first_error = str(error)
        log.error("delivery failed", topic=message.topic(), error=str(error))
