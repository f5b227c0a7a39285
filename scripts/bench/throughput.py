"""``authtrail bench max-throughput``: how fast can events become stored, and which stage
limits it — each stage measured against its own ceiling on this machine, in one run.

A  end to end: N events produced as fast as possible into a running pipeline; rate =
   N / (first send → everything stored). Peak RSS of the transformer.
B  producer: the same events' bytes produced again, pre-serialized: Avro's cost as a ratio.
C  transformer vs pass-through (the same loop, records forwarded unchanged), each over the
   same N raw records in its own process; py-spy samples the transformer meanwhile. The
   transformer runs again twice with metrics switched off (``metrics_enabled=false``) and once
   more counted (ABBA): Prometheus counting's cost, as a ratio measured in this run. The sink's metrics
   (Connect's JMX, read by the exporter agent only when scraped) are kept by Kafka whether or
   not anyone exports them, so the transformer is where counting sits on the data path.
D  sink: a fresh connector over C's output vs direct ``insert_many`` of the same BSON, both
   into a collection with the query indexes.
Stage rates are measured from the broker (committed offsets), never by counting documents:
on FerretDB a count is itself a full scan that would compete with the writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from bson.raw_bson import RawBSONDocument
from confluent_kafka import KafkaException, Producer
from pymongo import MongoClient

from authtrail.kafka.clients import admin_client, producer_config
from authtrail.kafka.offsets import consumer_lag, topic_end
from authtrail.kafka_connect import ConnectorClient
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.topics import TopicSpec, ensure_topics
from authtrail.waiting import wait_for
from connect.sink.deploy import render_sink_config
from scripts.bench import charts
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second
from scripts.console import console, step
from scripts.stack.isolated_pipeline import IsolatedPipeline

STAGE_TIMEOUT_S = 3600.0
# Stage C, in order: (figure name, service, settings overrides).
C_STAGES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("transformer", "transformer", {}),
    ("transformer_uncounted", "transformer", {"metrics_enabled": False}),
    ("transformer_uncounted_again", "transformer", {"metrics_enabled": False}),
    ("transformer_counted_again", "transformer", {}),
    ("pass_through", "pass-through", {}),
)


class PeakRss:
    """Largest resident set of a process, sampled twice a second."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return round(self.peak / 2**20, 1)


def _drain_rate(settings: Settings, group: str, topic: str, total: int) -> tuple[float, float]:
    """From the group's first committed progress to having committed ``total`` (for the sink,
    whose only outside signal is Connect's offset commits, every second: good to ±1 s)."""
    wait_for(lambda: consumer_lag(settings, group, topic) < total, STAGE_TIMEOUT_S, f"{group} to start")
    started = time.monotonic()
    wait_for(lambda: consumer_lag(settings, group, topic) == 0, STAGE_TIMEOUT_S, f"{group} to finish", 0.5)
    elapsed = time.monotonic() - started
    return elapsed, per_second(total, elapsed)


def _output_rate(settings: Settings, topic: str, total: int) -> tuple[float, float]:
    """From the first record a stage wrote to ``topic`` to its last one, by the topic's end
    offsets (sampled every 50 ms): excludes start-up, and is exact to the sampling."""

    def written() -> int:
        try:
            return topic_end(settings, topic)
        except KafkaException:  # e.g. leadership of a new topic not known yet: not written yet
            return 0

    wait_for(lambda: written() > 0, STAGE_TIMEOUT_S, f"output on {topic}", 0.05)
    started = time.monotonic()
    wait_for(lambda: written() >= total, STAGE_TIMEOUT_S, f"all output on {topic}", 0.05)
    elapsed = time.monotonic() - started
    return elapsed, per_second(total, elapsed)


def run(settings: Settings, count: int, profile_s: float) -> BenchResult:
    result = BenchResult(
        "max-throughput",
        {
            "events": count,
            "raw_partitions": settings.raw_partitions,
            "sink_partitions": settings.sink_partitions,
            "connector_tasks_max": settings.connector_tasks_max,
            "transformer_batch_size": settings.transformer_batch_size,
        },
    )
    run_id = uuid.uuid4().hex[:8]
    workdir = RESULTS_DIR / "work" / f"throughput-{result.started}"
    pipe = IsolatedPipeline(settings, f"tp{run_id}", workdir)
    scratch: list[str] = []
    figures = result.figures
    try:
        with step("deploying an isolated pipeline"):
            pipe.deploy()
        with step(f"preparing {count:,} events"):
            factory = EventFactory(seed=2024)
            events = [factory.event() for _ in range(count)]

        # A: end to end, every stage running at once.
        transformer = pipe.start("transformer")
        pipe.start("sink-watch")
        rss = PeakRss(transformer.pid)
        emitter = pipe.emitter()
        payloads: list[tuple[bytes, bytes]] = []
        with step(f"A: producing {count:,} Avro events as fast as possible"):
            started = time.monotonic()
            for event in events:
                key, value = emitter.serialize(event)
                payloads.append((key, value))
                emitter.send_raw(key, value)
            emitter.flush(600)
            produced_s = time.monotonic() - started
        del events
        with step("A: waiting until every event is stored"):
            wait_for(
                lambda: (
                    consumer_lag(pipe.settings, pipe.settings.transformer_group, pipe.settings.raw_topic) == 0
                    and consumer_lag(
                        pipe.settings, f"connect-{pipe.settings.connector_name}", pipe.settings.sink_topic
                    )
                    == 0
                ),
                STAGE_TIMEOUT_S,
                "end-to-end drain",
                0.5,
            )
            end_to_end_s = time.monotonic() - started
        emitter.close()
        stored = pipe.collection.count_documents({})
        figures["end_to_end"] = {
            "sent": emitter.counts.sent,
            "acked": emitter.counts.acked,
            "stored": stored,
            "seconds": round(end_to_end_s, 1),
            "events_per_s": per_second(stored, end_to_end_s),
        }
        figures["producer_avro"] = {
            "seconds": round(produced_s, 1),
            "events_per_s": per_second(count, produced_s),
        }
        figures["transformer_peak_rss_mb"] = rss.stop()
        pipe.stop("sink-watch")
        pipe.stop("transformer")

        # B: the same bytes again, pre-serialized.
        raw_copy = f"tp{run_id}.raw-copy"
        scratch.append(raw_copy)
        ensure_topics(admin_client(settings), [TopicSpec(raw_copy, settings.raw_partitions)], 1)
        producer = Producer(producer_config(settings, "authtrail-bench"))
        with step("B: producing the same bytes pre-serialized"):
            started = time.monotonic()
            for key, value in payloads:
                while True:
                    try:
                        producer.produce(raw_copy, key=key, value=value)
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            producer.flush(600)
            bytes_s = time.monotonic() - started
        del payloads
        figures["producer_bytes"] = {"seconds": round(bytes_s, 1), "events_per_s": per_second(count, bytes_s)}

        # C: transformer and pass-through over the same raw records, one at a time; the
        # transformer also with its metrics switched off, twice, between two counted runs
        # (counting's overhead, measured in this run: mean counted over mean uncounted).
        stage_sink = {}
        for stage, service, overrides in C_STAGES:
            topic = f"tp{run_id}.{stage}-out"
            scratch.append(topic)
            stage_sink[stage] = topic
            ensure_topics(admin_client(settings), [TopicSpec(topic, settings.sink_partitions)], 1)
            group = f"tp{run_id}-{stage}"
            process = pipe.start(service, name=stage, transformer_group=group, sink_topic=topic, **overrides)
            memory = PeakRss(process.pid)
            profiler = (
                _profile(process.pid, profile_s, workdir / f"{stage}.pyspy")
                if stage == "transformer"
                else None
            )
            with step(f"C: {stage.replace('_', '-')} over the same {count:,} records"):
                seconds, rate = _output_rate(pipe.settings, topic, count)
            figures[stage] = {
                "seconds": round(seconds, 1),
                "events_per_s": rate,
                "peak_rss_mb": memory.stop(),
            }
            if profiler is not None:
                figures["transformer_profile"] = _profile_summary(profiler, workdir / f"{stage}.pyspy")
            pipe.stop(stage)

        # D: sink through Connect vs direct insert_many, same documents, same indexes.
        database = pipe.mongo[pipe.settings.mongo_database]
        via_connect, direct = database["sink_via_connect"], database["sink_direct"]
        for collection in (via_connect, direct):
            collection.insert_one({"_id": "__seed"})
            ensure_indexes(collection)
        name = f"tp{run_id}-sink"
        config = render_sink_config(
            pipe.settings,
            sink_topic=stage_sink["transformer"],
            collection=via_connect.name,
            sink_dlq_topic=f"tp{run_id}.sink-dlq",
        )
        scratch.append(f"tp{run_id}.sink-dlq")
        with step(f"D: Connect sink over {count:,} documents"):
            ConnectorClient(settings.connect_url, name).deploy(config, timeout_s=120)
            seconds, rate = _drain_rate(pipe.settings, f"connect-{name}", stage_sink["transformer"], count)
        ConnectorClient(settings.connect_url, name).delete()
        figures["sink_connect"] = {"seconds": round(seconds, 1), "events_per_s": rate}
        with step("D: reading the same documents back for insert_many"):
            documents = [
                record["value"] for record in pipe.read_topic(stage_sink["transformer"], timeout_s=120)
            ]
        with step(f"D: direct insert_many of {len(documents):,} documents"):
            started = time.monotonic()
            for i in range(0, len(documents), 2000):
                direct.insert_many([RawBSONDocument(d) for d in documents[i : i + 2000]], ordered=False)
            seconds = time.monotonic() - started
        figures["sink_direct"] = {
            "seconds": round(seconds, 1),
            "events_per_s": per_second(len(documents), seconds),
        }
    finally:
        pipe.close(drop_data=True)
        cleanup: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
        with cleanup:
            cleanup.drop_database(pipe.settings.mongo_database)
        topics = [
            pipe.settings.raw_topic,
            pipe.settings.sink_topic,
            pipe.settings.dlq_topic,
            pipe.settings.sink_dlq_topic,
            *scratch,
        ]
        admin_client(settings).delete_topics(topics)
    _report(result)
    return result


def _mean_rate(figures: dict[str, Any], *stages: str) -> float:
    return round(sum(float(figures[s]["events_per_s"]) for s in stages) / len(stages), 1)


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else 0.0


def _profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if seconds <= 0 or not Path(py_spy).exists():
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _profile_summary(profiler: subprocess.Popen[bytes], output: Path) -> dict[str, Any]:
    """Where the transformer's samples were: top functions by own time, and by time inside."""
    try:
        profiler.wait(120)
    except subprocess.TimeoutExpired:
        profiler.kill()
    if not output.exists():
        return {"error": "py-spy produced no profile (permissions?)"}
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        total += int(samples)
        own[frames[-1]] += int(samples)
        for frame in set(frames):
            inside[frame] += int(samples)
    return {
        "samples": total,
        "own_time_top": {k: round(100 * v / total, 1) for k, v in own.most_common(12)},
        "inclusive_top": {
            k: round(100 * v / total, 1)
            for k, v in inside.most_common(25)
            if not k.startswith(("<module>", "run ", "main", "_run_module"))
        },
    }


def _report(result: BenchResult) -> None:
    f = result.figures
    if "sink_direct" not in f:
        result.save()
        return
    rows = [
        ["end to end (everything running)", f["end_to_end"]["events_per_s"], "", ""],
        [
            "producer: Avro serialize + produce",
            f["producer_avro"]["events_per_s"],
            "pre-serialized bytes",
            _ratio(f["producer_avro"]["events_per_s"], f["producer_bytes"]["events_per_s"]),
        ],
        [
            "transformer",
            f["transformer"]["events_per_s"],
            "pass-through (same loop)",
            _ratio(f["transformer"]["events_per_s"], f["pass_through"]["events_per_s"]),
        ],
        [
            "transformer, metrics counted (mean of 2 runs)",
            _mean_rate(f, "transformer", "transformer_counted_again"),
            "metrics switched off (mean of 2)",
            round(
                _mean_rate(f, "transformer", "transformer_counted_again")
                / _mean_rate(f, "transformer_uncounted", "transformer_uncounted_again"),
                3,
            ),
        ],
        [
            "sink: Kafka Connect MongoDB sink",
            f["sink_connect"]["events_per_s"],
            "direct insert_many",
            _ratio(f["sink_connect"]["events_per_s"], f["sink_direct"]["events_per_s"]),
        ],
    ]
    print_table(
        f"max throughput, {result.parameters['events']:,} events",
        ["stage", "events/s", "vs ceiling", "ratio"],
        rows,
    )
    console.print(
        f"ceilings: bytes {f['producer_bytes']['events_per_s']:,.0f}/s, pass-through "
        f"{f['pass_through']['events_per_s']:,.0f}/s, insert_many {f['sink_direct']['events_per_s']:,.0f}/s;"
        f" transformer peak RSS {f['transformer_peak_rss_mb']} MB"
    )
    f["ratios"] = {
        "producer_avro_vs_bytes": rows[1][3],
        "transformer_vs_pass_through": rows[2][3],
        "transformer_counted_vs_uncounted": rows[3][3],
        "sink_connect_vs_insert_many": rows[4][3],
    }
    f["targets"] = {
        "end to end ≥ 20,000 events/s": f["end_to_end"]["events_per_s"] >= 20_000,
        "transformer ≥ 0.5× pass-through": rows[2][3] >= 0.5,
        "sink ≥ 0.7× insert_many": rows[4][3] >= 0.7,
        "metrics cost the transformer ≤ 3 %": rows[3][3] >= 0.97,
        "transformer RSS ≤ 150 MB": f["transformer_peak_rss_mb"] <= 150,
        "no loss end to end": f["end_to_end"]["stored"]
        == f["end_to_end"]["acked"]
        == f["end_to_end"]["sent"],
    }
    console.print(f"targets: {f['targets']}")
    if "transformer_profile" in f:
        console.print(f"transformer profile (own time %): {f['transformer_profile'].get('own_time_top')}")
    charts.grouped_bars(
        result.path("png"),
        "stage rate vs its ceiling (events/s)",
        ["producer", "transformer", "sink"],
        {
            "stage": [
                f["producer_avro"]["events_per_s"],
                f["transformer"]["events_per_s"],
                f["sink_connect"]["events_per_s"],
            ],
            "ceiling": [
                f["producer_bytes"]["events_per_s"],
                f["pass_through"]["events_per_s"],
                f["sink_direct"]["events_per_s"],
            ],
        },
        "events/s (log)",
        log=True,  # the ceilings span 6k to 600k
    )
    result.save()
