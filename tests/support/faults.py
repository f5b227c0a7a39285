"""Fault-test tools: a steady stream of known events, and the exact accounting every fault
test ends with — every produced id stored exactly once, nothing else stored, and per company
produced = stored + dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authtrail.kafka import consumer_lag
from scripts.emitter import EventEmitter, TokenBucket
from scripts.isolated import Pipeline
from scripts.sample_events import EventFactory
from scripts.waiting import wait_for


class Stream:
    """``count`` events at ``rate``/s from a background thread; events are known up front."""

    def __init__(
        self,
        pipe: Pipeline,
        count: int,
        rate: float,
        seed: int,
        users: int = 2000,
        schema_str: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        factory = EventFactory(seed=seed, users=users)
        self.events = [{**factory.event(), **(extra or {})} for _ in range(count)]
        self.emitter: EventEmitter = pipe.emitter(schema_str)
        self.rate = rate
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.finished_at = 0.0

    def _run(self) -> None:
        bucket = TokenBucket(self.rate)
        for event in self.events:
            bucket.take()
            self.emitter.send(event)
        self.emitter.flush(180)
        self.finished_at = time.monotonic()

    def start(self) -> Stream:
        self._thread.start()
        return self

    def wait_sent(self, count: int, timeout_s: float = 60) -> None:
        wait_for(lambda: self.emitter.counts.sent >= count, timeout_s, f"{count} events sent")

    def join(self, timeout_s: float = 240) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the stream did not finish"
        self.emitter.close()
        counts = self.emitter.counts
        assert (counts.acked, counts.failed) == (len(self.events), 0), counts

    @property
    def ids(self) -> set[str]:
        return {e["id"] for e in self.events}


@dataclass
class Accounting:
    produced: int
    stored: int
    duplicates: int
    dead_lettered: int
    redelivered: int
    sink_rejected_duplicates: int
    recovery_s: float
    per_company: dict[int, tuple[int, int, int]] = field(default_factory=dict)


def caught_up(pipe: Pipeline, expected: int) -> bool:
    s = pipe.settings
    return (
        consumer_lag(s, s.transformer_group, s.raw_topic) == 0
        and consumer_lag(s, f"connect-{s.connector_name}", s.sink_topic) == 0
        and pipe.collection.count_documents({}) >= expected
    )


def account(
    pipe: Pipeline, events: list[dict[str, Any]], recovered_from: float, timeout_s: float = 240
) -> Accounting:
    """Wait until the pipeline caught up with ``events``, then check storage exactly."""
    produced_ids = {e["id"] for e in events}
    wait_for(lambda: caught_up(pipe, len(produced_ids)), timeout_s, "the pipeline to catch up")
    recovery = time.monotonic() - recovered_from
    stored = pipe.stored_ids()
    duplicates = len(stored) - len(set(stored))
    assert duplicates == 0
    assert set(stored) == produced_ids, (
        f"missing {len(produced_ids - set(stored))}, unexpected {len(set(stored) - produced_ids)}"
    )
    dead = pipe.read_topic(pipe.settings.dlq_topic)
    assert dead == [], [r["headers"] for r in dead[:3]]
    by_company = Counter(e["company_id"] for e in events)
    stored_by_company = Counter(d["company_id"] for d in pipe.collection.find({}, {"company_id": 1}))
    per_company = {c: (n, stored_by_company[c], 0) for c, n in by_company.items()}
    assert all(produced == stored + dlq for produced, stored, dlq in per_company.values())
    sink_records = sum(1 for _ in pipe.read_topic(pipe.settings.sink_topic, timeout_s=30))
    sink_dead = pipe.read_topic(pipe.settings.sink_dlq_topic, timeout_s=30)
    # Everything the sink rejected was a duplicate of an identical stored event (none was a conflict).
    assert all("code=11000" in r["headers"].get("__connect.errors.exception.message", "") for r in sink_dead)
    return Accounting(
        produced=len(events),
        stored=len(stored),
        duplicates=duplicates,
        dead_lettered=len(dead),
        redelivered=sink_records - len(produced_ids),
        sink_rejected_duplicates=len(sink_dead),
        recovery_s=round(recovery, 1),
        per_company=per_company,
    )


def report(name: str, accounting: Accounting, report_dir: Path) -> None:
    """One line per fault for the reliability table (``.stack-test/fault-report.jsonl``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    with (report_dir / "fault-report.jsonl").open("a") as out:
        out.write(
            json.dumps(
                {
                    "fault": name,
                    "produced": accounting.produced,
                    "stored": accounting.stored,
                    "stored_duplicates": accounting.duplicates,
                    "redelivered_to_sink_topic": accounting.redelivered,
                    "sink_rejected_duplicates": accounting.sink_rejected_duplicates,
                    "dead_lettered": accounting.dead_lettered,
                    "recovery_s": accounting.recovery_s,
                }
            )
            + "\n"
        )
