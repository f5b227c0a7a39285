"""``authtrail dlq inspect | replay``: look at dead letters, and re-feed them after a fix.

Every dead letter carries its original bytes and ``authtrail.source.topic``: replay sends the
record back there unchanged (original key, value and headers, ours removed), so it goes
through the whole pipeline again. Replaying is idempotent end to end: an event that is
already stored is recognised as a redelivery, so replaying twice stores once. A record that
fails again simply lands in the DLQ again, with its (new) reason.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import typer
from confluent_kafka import Consumer, TopicPartition
from rich.table import Table

from authtrail.delivery import CheckedProducer
from authtrail.kafka import consumer_config, producer_config
from authtrail.logs import configure_logging, get_logger
from authtrail.settings import Settings, get_settings
from connect.dead_letter import HEADER_PREFIX, REASON, SOURCE_TOPIC, header_map
from connect.raw import RawMessage, raw_message
from scripts.console import console

log = get_logger(__name__)
app = typer.Typer(help="Dead letters: inspect them, replay them after a fix.", no_args_is_help=True)


@dataclass(frozen=True)
class DeadLetter:
    record: RawMessage

    @property
    def info(self) -> dict[str, str]:
        return header_map(list(self.record.headers))

    @property
    def reason(self) -> str:
        return self.info.get(REASON, "unknown")


def read_dead_letters(settings: Settings, timeout_s: float = 10.0) -> Iterator[DeadLetter]:
    """Every record of the DLQ topic, oldest first per partition (read without a group)."""
    consumer = Consumer(
        consumer_config(
            settings,
            f"authtrail-dlq-reader-{uuid.uuid4().hex[:8]}",
            "authtrail-dlq",
            **{"enable.auto.commit": False},
        )
    )
    try:
        topic = settings.dlq_topic
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s) for p in partitions
        }
        wanted = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
        remaining = sum(high - ends[p][0] for p, high in wanted.items())
        while remaining > 0:
            batch = consumer.consume(min(500, remaining), timeout=timeout_s)
            if not batch:
                break
            for message in batch:
                if message.error() is None:
                    remaining -= 1
                    yield DeadLetter(raw_message(message))
    finally:
        consumer.close()


def _preview(data: bytes | None, limit: int = 120) -> str:
    if data is None:
        return "null"
    text = data[:limit].decode("utf-8", errors="backslashreplace")
    return text + ("…" if len(data) > limit else "")


@app.command()
def inspect(
    limit: Annotated[int, typer.Option(help="How many records to show in full.")] = 5,
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Counts of dead letters by reason, then the first LIMIT in full."""
    settings = get_settings()
    configure_logging(settings, "dlq", console_level="WARNING")
    letters = [d for d in read_dead_letters(settings) if reason is None or d.reason == reason]
    counts = Counter(d.reason for d in letters)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "total": len(letters),
                    "by_reason": dict(counts.most_common()),
                    "records": [
                        {
                            "partition": d.record.partition,
                            "offset": d.record.offset,
                            "headers": d.info,
                            "key": _preview(d.record.key),
                            "value": _preview(d.record.value),
                        }
                        for d in letters[:limit]
                    ],
                }
            )
        )
        return
    table = Table("reason", "records", title=f"{settings.dlq_topic}: {len(letters)} dead letter(s)")
    for name, count in counts.most_common():
        table.add_row(name, f"{count:,}")
    console.print(table)
    for letter in letters[:limit]:
        console.print(
            f"\n[bold]{letter.reason}[/] partition {letter.record.partition} offset {letter.record.offset}"
        )
        for name, value in letter.info.items():
            console.print(f"  {name}: {value}", soft_wrap=True)
        console.print(
            f"  key: {_preview(letter.record.key)}\n  value: {_preview(letter.record.value)}", soft_wrap=True
        )


def replay_dead_letters(
    settings: Settings, reason: str | None = None, offsets: set[tuple[int, int]] | None = None
) -> Counter[str]:
    """Send selected dead letters back to their source topics; returns counts by topic once the
    broker acknowledged every one (:class:`~authtrail.delivery.DeliveryError` otherwise)."""
    producer = CheckedProducer(producer_config(settings, "authtrail-dlq-replay"))
    sent: Counter[str] = Counter()
    for letter in read_dead_letters(settings):
        if (reason and letter.reason != reason) or (
            offsets and (letter.record.partition, letter.record.offset) not in offsets
        ):
            continue
        source = letter.info.get(SOURCE_TOPIC)
        if not source:
            log.warning(
                "dead letter without a source topic; skipped",
                partition=letter.record.partition,
                offset=letter.record.offset,
            )
            continue
        original: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in letter.record.headers if not k.startswith(HEADER_PREFIX)
        ]
        producer.produce(source, letter.record.key, letter.record.value, original)
        producer.poll(0)
        sent[source] += 1
    producer.flush(60)
    log.info("dead letters replayed", **sent)
    return sent


@app.command()
def replay(
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    offset: Annotated[
        list[str] | None, typer.Option(help="PARTITION:OFFSET of one record (repeatable).")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Re-feed selected dead letters to their source topics (after fixing what rejected them)."""
    if not (reason or offset or everything):
        raise typer.BadParameter("select records with --reason, --offset or --all")
    settings = get_settings()
    configure_logging(settings, "dlq", console_level="WARNING")
    selected = {(int(p), int(o)) for p, o in (item.split(":", 1) for item in offset or [])} or None
    sent = replay_dead_letters(settings, reason=reason, offsets=selected)
    console.print(
        f"replayed {sum(sent.values())} record(s): "
        + (", ".join(f"{n} to {t}" for t, n in sent.items()) or "none matched")
    )
