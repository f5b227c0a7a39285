"""The transformer's ceiling: the very same consume → produce → flush → store-offsets loop,
with records forwarded unchanged — no Avro decoding, validation or transforms.

``authtrail bench pass-through`` runs it (with the transformer's settings) until SIGTERM;
max-throughput compares the transformer's rate with this one's on the same records.
"""

from __future__ import annotations

import signal
import threading

from confluent_kafka import Consumer

from authtrail.kafka.clients import consumer_config, producer_config
from authtrail.kafka.delivery import CheckedProducer
from authtrail.kafka.records import RawMessage
from authtrail.settings import Settings
from connect.transformer.event_transformer import Forward, Outcome
from connect.transformer.service import TransformerService
from connect.transformer.transforms.chain import TransformChain


class PassThrough:
    """Duck-types EventTransformer: every record goes on as it came."""

    chain = TransformChain([])

    def process(self, message: RawMessage) -> Outcome:
        return Forward(key=message.key or b"", value=message.value or b"")


def run_pass_through(settings: Settings) -> None:
    consumer = Consumer(
        consumer_config(
            settings,
            settings.transformer_group,
            "authtrail-pass-through",
            **{"session.timeout.ms": settings.transformer_session_timeout_ms},
        )
    )
    service = TransformerService(
        settings,
        PassThrough(),
        consumer,
        CheckedProducer(producer_config(settings, "authtrail-pass-through")),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.run(stop)
