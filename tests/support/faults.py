"""Fault-test tools: a steady stream of known events, and the exact accounting every fault
test ends with — per event id: stored once with the content produced, or dead-lettered once
with the expected reason; nothing else stored or dead-lettered; per company produced = stored
+ dead-lettered."""

from __future__ import annotations

import contextlib
import io
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import bson
import fastavro
import psutil

from authtrail.contract import load_contract
from authtrail.emitter import EventEmitter
from authtrail.kafka.clients import observer
from authtrail.kafka.offsets import committed_lag, consumer_lag
from authtrail.sample_events import EventFactory
from authtrail.token_bucket import TokenBucket
from authtrail.waiting import TimedOutError, wait_for
from connect.dead_letter import REASON, SOURCE_TOPIC
from connect.transformer.storable import parse_json_object
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.stack.processes import ProcessTable


class Stream:
    """``count`` events at ``rate``/s from a background thread; events are known up front."""

    def __init__(
        self,
        pipe: IsolatedPipeline,
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


def hops(pipe: IsolatedPipeline) -> list[tuple[str, str]]:
    """(consumer group, topic) of each hop: the transformer, the sink, and the reconciler of
    the sink's dead letters."""
    s = pipe.settings
    return [
        (s.transformer_group, s.raw_topic),
        (f"connect-{s.connector_name}", s.sink_topic),
        (f"{s.connector_name}-reconciler", s.sink_dlq_topic),
    ]


def caught_up(pipe: IsolatedPipeline) -> bool:
    """Every hop has committed everything it was given. Waiting on the broker, not on a count,
    so a loss fails at once as "missing N"."""
    return all(consumer_lag(pipe.settings, group, topic) == 0 for group, topic in hops(pipe))


def stall_report(pipe: IsolatedPipeline, tail: int = 25) -> str:
    """Where a pipeline that did not catch up stands: each hop's lag per partition, the
    connector's status, and the last lines each of its services printed."""
    s = pipe.settings
    lines = []
    for group, topic in hops(pipe):
        try:
            with observer(s, group) as consumer:
                lines.append(f"lag {group} on {topic}: {committed_lag(consumer, topic)}")
        except Exception as exc:  # a report of a failure must not fail itself
            lines.append(f"lag {group} on {topic}: unreadable ({exc})")
    try:
        status = pipe.connector.status()
        lines.append(f"connector: {status.summary() if status else 'absent'}")
    except Exception as exc:
        lines.append(f"connector: unreadable ({exc})")
    connect_log = s.stack_dir / "logs" / "connect.log"
    logs = [
        (out.name, out.read_text(errors="replace").splitlines()) for out in sorted(pipe.workdir.glob("*.out"))
    ]
    if connect_log.exists():
        mine = [
            line
            for line in connect_log.read_text(errors="replace").splitlines()
            if s.connector_name in line and "RestServer" not in line  # not our own status polls
        ]
        logs.append((f"{connect_log} (lines naming {s.connector_name})", mine))
    for name, text in logs:
        lines += [f"--- {name}, last {min(tail, len(text))} lines", *text[-tail:]]
    return "\n".join(lines)


def dead_letter_ids(pipe: IsolatedPipeline) -> list[tuple[str, dict[str, str]]]:
    """(event id, headers) of every record in the human-facing DLQ — one entry per record, so an
    event dead-lettered twice appears twice. Raw-topic letters carry the producer's Avro bytes;
    letters from the sink carry the BSON document."""
    schema = fastavro.parse_schema(json.loads(load_contract(pipe.settings.schemas_dir).event_schema_str))
    letters = []
    for record in pipe.read_topic(pipe.settings.dlq_topic, timeout_s=30):
        value = record["value"] or b""
        if record["headers"].get(SOURCE_TOPIC) == pipe.settings.sink_topic:
            event_id = bson.decode(value)["_id"]
        else:
            event: dict = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)  # type: ignore[assignment]
            event_id = event["id"]
        letters.append((event_id, record["headers"]))
    return letters


def account(
    pipe: IsolatedPipeline,
    events: list[dict[str, Any]],
    recovered_from: float,
    timeout_s: float = 240,
    dead: dict[str, str] | None = None,
) -> Accounting:
    """Wait until the pipeline caught up with ``events``, then count exactly, per event id: each
    id in ``dead`` (id → reason) dead-lettered once with that reason and not stored; every other
    produced id stored once, with the content it was produced with; nothing else stored or
    dead-lettered. ``dead`` may name ids that were never produced to the raw topic (records
    written straight to the sink topic)."""
    dead = dead or {}
    produced_ids = Counter(e["id"] for e in events)
    assert max(produced_ids.values(), default=1) == 1, "the test produced an id twice"
    expected_stored = set(produced_ids) - set(dead)
    try:
        wait_for(lambda: caught_up(pipe), timeout_s, "the pipeline to catch up")
    except TimedOutError as exc:
        raise AssertionError(f"{exc}\n{stall_report(pipe)}") from exc
    recovery = time.monotonic() - recovered_from
    stored = {d["_id"]: d for d in pipe.collection.find({})}
    assert set(stored) == expected_stored, (
        f"missing {len(expected_stored - set(stored))}, unexpected {len(set(stored) - expected_stored)}"
    )
    by_id = {e["id"]: e for e in events}
    changed = [i for i in stored if not same_content(by_id[i], stored[i])]
    assert not changed, f"{len(changed)} stored events differ from what was produced, e.g. {changed[:3]}"
    letters = dead_letter_ids(pipe)
    letter_count = Counter(event_id for event_id, _ in letters)
    assert letter_count == Counter(dict.fromkeys(dead, 1)), f"dead letters {letter_count} != expected {dead}"
    reasons = {event_id: headers.get(REASON) for event_id, headers in letters}
    assert reasons == dead
    by_company = Counter(e["company_id"] for e in events)
    stored_by_company = Counter(d["company_id"] for d in stored.values())
    dead_by_company = Counter(by_id[i]["company_id"] for i in dead if i in by_id)
    per_company = {c: (n, stored_by_company[c], dead_by_company[c]) for c, n in by_company.items()}
    assert all(n == kept + lettered for n, kept, lettered in per_company.values()), per_company
    sink_records = sum(1 for _ in pipe.read_topic(pipe.settings.sink_topic, timeout_s=30))
    sink_dead = pipe.read_topic(pipe.settings.sink_dlq_topic, timeout_s=30)
    # Everything the sink rejected was a duplicate of an identical stored event (none was a conflict).
    assert all("code=11000" in r["headers"].get("__connect.errors.exception.message", "") for r in sink_dead)
    return Accounting(
        produced=len(events),
        stored=len(stored),
        duplicates=sum(letter_count.values()) - len(letter_count),
        dead_lettered=len(letters),
        redelivered=sink_records - len(expected_stored),
        sink_rejected_duplicates=len(sink_dead),
        recovery_s=round(recovery, 1),
        per_company=per_company,
    )


def same_content(event: dict[str, Any], stored: dict[str, Any]) -> bool:
    """The stored document says what the producer sent (the transformer's renames and casts
    undone); event_data compared type-strictly, so 1 and 1.0 differ."""
    return (
        stored["_id"] == event["id"]
        and int(stored["timestamp"].replace(tzinfo=UTC).timestamp()) == event["timestamp"]
        and (stored["user_id"], stored["company_id"]) == (event["user_id"], event["company_id"])
        and (stored["event_type"], stored["event_resource_type"], stored["resource_id"])
        == (event["event_type"], event["resource_type"], event["resource_id"])
        and strictly_equal(stored["event_data"], parse_json_object(event["event_data"], "event_data", "-"))
    )


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types, all the way down (unlike ==, 1 != 1.0 != True here;
    BSON's int32 and int64 both count as integers; -0.0 differs from 0.0)."""
    if _kind(a) is not _kind(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def _kind(value: Any) -> type:
    return int if isinstance(value, int) and not isinstance(value, bool) else type(value)


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


@dataclass
class Frozen:
    """A process and its descendants, stopped; :meth:`resume` wakes them all."""

    family: list[psutil.Process]

    def resume(self) -> None:
        for process in self.family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


def suspend(processes: ProcessTable, name: str) -> Frozen:
    """SIGSTOP a running process of the stack or a pipeline (frozen: its sockets stay open,
    nothing answers) and every process it forked — PostgreSQL serves each connection from a
    child, which freezing the postmaster alone leaves running. The caller resumes it."""
    tracked = processes.running(name)
    assert tracked is not None, f"{name} is not running"
    root = psutil.Process(tracked.pid)
    root.suspend()  # first: a stopped process forks no more children
    children = root.children(recursive=True)
    for child in children:
        child.suspend()
    return Frozen([root, *children])
