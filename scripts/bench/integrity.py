"""``authtrail bench integrity``: what tamper evidence costs and how fast it answers, in four
parts, each runnable alone (``--parts``) and each measured side by side within its own run.

A  sealing at the pipeline's maximum ingest rate: ``events`` produced as fast as possible into
   an isolated pipeline whose transformer, sink and sealer all run; once a second, from the
   broker: what the sink committed on the sink topic (stored), what the sealer committed on it
   (sealed) and the topic's end. Ingest rate, seal rate and their ratio; the sealing lag
   (stored − sealed), its maximum and its growth over the second half of the ingest; the
   sealer's own rate once the sink is done; last stored → last sealed.
B  checkpoint coverage: ``rate`` events/s for ``duration`` s, checkpoints every ``interval`` s
   (after a short warm-up). For one event in ``COVER_SAMPLE``: its ``ingested_at`` (set by the
   transformer, just before the sink stores it) to the signing time of the first checkpoint of
   its company whose tree covers its leaf — read afterwards from the stored chain, so exact to
   the millisecond rather than to a poll. In seconds and in intervals.
C  proof latency on a big log: ``size`` events of ``companies`` companies written straight into
   a database — the documents the pipeline stores, inserted as ``bench query`` loads them, and
   sealed by the real writer (:class:`Sealer` over :class:`MongoSealStore`, ``SEAL_BATCH``
   events a batch), then one checkpoint round. ``authtrail serve`` answers, one request at a
   time and interleaved, ``repeats`` of each: an inclusion proof, a consistency proof, and the
   plain event lookup as the reference.
D  offline verification: an evidence bundle of ``size`` events of one company, made in Python
   (no store), read (parse + hash every event: ``scripts.verify.read_bundle``) and verified
   (``verify_log``: signatures, chain, every root, every event), each timed; then
   ``authtrail verify --offline`` on it as a user runs it (its own process: imports, output).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import httpx
import psutil
from bson.raw_bson import RawBSONDocument
from confluent_kafka import KafkaException
from matplotlib.figure import Figure
from pymongo import MongoClient
from pymongo.database import Database

from authtrail.audit_event import audit_event
from authtrail.integrity.checkpoint import (
    SignedCheckpoint,
    generate_key_pair,
    key_id,
    load_private_key,
    load_public_key,
    new_checkpoint,
    sign,
)
from authtrail.integrity.checkpointer import Checkpointer
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import CompactRange, verify_inclusion
from authtrail.integrity.seal_store import CHECKPOINTS, LEAVES, NODES, MongoSealStore
from authtrail.integrity.sealing import Sealable, Sealer, decode_sealable
from authtrail.integrity.verification import verify_log
from authtrail.kafka.offsets import topic_end
from authtrail.key_store import create_key
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.token_bucket import TokenBucket
from authtrail.waiting import http_ok, wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.serialize import dumps
from scripts.bench import charts
from scripts.bench.query import SPREAD_S, api_settings
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms, ratio
from scripts.bench.throughput import PeakRss
from scripts.console import console, progress, step
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.verify import read_bundle

PARTS = ("A", "B", "C", "D")
API_PORT = 14997
TIMEOUT_S = 3600.0
WARMUP_S = 3.0
COVER_SAMPLE = 10  # B: one event in 10 is followed to its checkpoint
SEAL_BATCH = 10_000  # C: events per Sealer.seal call (the service's default batch is 2,000)
ID_SAMPLE = 50  # C: one event id in 50 kept to ask proofs of
BUNDLE_CHECKPOINT_EVERY = 60_000  # D: a checkpoint per minute at 1,000 events/s
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
Document = dict[str, Any]


@dataclass(frozen=True)
class Options:
    events: int = 200_000
    rate: float = 1000.0
    duration: float = 60.0
    interval: float = 10.0
    size: int = 1_000_000
    companies: int = 20
    repeats: int = 500


def run(settings: Settings, parts: list[str], options: Options) -> BenchResult:
    result = BenchResult("integrity", {"parts": parts, **asdict(options)})
    measure: dict[str, Callable[[Settings, Options, BenchResult], dict[str, Any]]] = {
        "A": sealing_at_max_ingest,
        "B": checkpoint_coverage,
        "C": proof_latency,
        "D": offline_verification,
    }
    report: dict[str, Callable[[BenchResult], None]] = {
        "A": _report_a,
        "B": _report_b,
        "C": _report_c,
        "D": _report_d,
    }
    for part in parts:
        result.figures[part] = measure[part](settings, options, result)
        report[part](result)
        result.save()  # after each part: a later part's failure keeps the earlier figures
    return result


# --- A: sealing at the maximum ingest rate ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # seconds since the sampler started
    stored: int  # records the sink committed on the sink topic
    sealed: int  # records the sealer committed on it
    written: int  # the sink topic's end offsets

    @property
    def lag(self) -> int:
        return self.stored - self.sealed


class SealProgress:
    """Stored, sealed and written on the sink topic, read from the broker once a second."""

    def __init__(self, pipe: IsolatedPipeline, every_s: float = 1.0) -> None:
        self.pipe = pipe
        self.every_s = every_s
        self.series: list[Sample] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SealProgress:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def latest(self) -> Sample | None:
        return self.series[-1] if self.series else None

    def _run(self) -> None:
        s = self.pipe.settings
        while True:
            at = round(time.monotonic() - self.started, 2)
            with contextlib.suppress(KafkaException):  # a broker hiccup: the next sample
                self.series.append(
                    Sample(
                        at,
                        self.pipe.committed(f"connect-{s.connector_name}", s.sink_topic),
                        self.pipe.committed(s.sealer_group, s.sink_topic),
                        topic_end(s, s.sink_topic),
                    )
                )
            if self._stop.wait(self.every_s):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def sealing_at_max_ingest(settings: Settings, options: Options, result: BenchResult) -> dict[str, Any]:
    count = options.events
    pipe = IsolatedPipeline(
        settings, f"ia{uuid.uuid4().hex[:8]}", RESULTS_DIR / "work" / f"integrity-a-{result.started}"
    )
    try:
        with step("A: deploying an isolated pipeline (transformer, sink, sealer)"):
            pipe.deploy()
            pipe.start("transformer")
            pipe.start("sink-watch")
            sealer = pipe.start("sealer")
        with step(f"A: preparing {count:,} events"):
            factory = EventFactory(seed=2024)
            events = [factory.event() for _ in range(count)]
        memory = PeakRss(sealer.pid)
        watch = SealProgress(pipe).start()
        emitter = pipe.emitter()
        with step(f"A: producing {count:,} events as fast as possible"):
            started = time.monotonic()
            for event in events:
                emitter.send(event)
            emitter.flush(600)
            produced_s = time.monotonic() - started
        del events
        acked = emitter.counts.acked
        with step("A: waiting until every event is stored and sealed"):
            wait_for(
                lambda: (
                    (last := watch.latest()) is not None
                    and last.written >= acked
                    and last.stored == last.written == last.sealed
                ),
                TIMEOUT_S,
                "every event stored and sealed",
                0.5,
            )
        watch.stop()
        emitter.close()
        cpu = psutil.Process(sealer.pid).cpu_times()
        figures = _sealing_figures(watch.series, watch.series[-1].written)
        figures.update(
            sent=emitter.counts.sent,
            acked=acked,
            producer_per_s=per_second(count, produced_s),
            sealer_peak_rss_mb=memory.stop(),
            sealer_cpu_s=round(cpu.user + cpu.system, 1),
            series=[asdict(s) for s in watch.series],
        )
        return figures
    finally:
        pipe.close(drop_data=True)


def _sealing_figures(series: list[Sample], total: int) -> dict[str, Any]:
    """Rates from the first sample showing progress to the first showing everything done."""

    def first(done: Callable[[Sample], bool]) -> Sample:
        return next(s for s in series if done(s))

    stored_from, stored_all = first(lambda s: s.stored > 0), first(lambda s: s.stored >= total)
    sealed_from, sealed_all = first(lambda s: s.sealed > 0), first(lambda s: s.sealed >= total)
    ingest = per_second(total - stored_from.stored, stored_all.at - stored_from.at)
    seal = per_second(total - sealed_from.sealed, sealed_all.at - sealed_from.at)
    during = (
        per_second(stored_all.sealed - sealed_from.sealed, stored_all.at - sealed_from.at)
        if sealed_from.at < stored_all.at
        else None
    )
    alone = (
        per_second(total - stored_all.sealed, sealed_all.at - stored_all.at)
        if sealed_all.at > stored_all.at
        else None
    )
    middle = first(lambda s: s.at >= (stored_from.at + stored_all.at) / 2)
    growth = (
        round((stored_all.lag - middle.lag) / (stored_all.at - middle.at), 1)
        if stored_all.at > middle.at
        else 0.0
    )
    return {
        "events": total,
        "ingest_per_s": ingest,
        "seal_per_s": seal,
        "seal_over_ingest": ratio(seal, ingest),
        "seal_per_s_while_ingesting": during,
        "seal_per_s_after_ingest": alone,
        "max_lag": max(s.lag for s in series),
        "lag_when_ingest_ended": stored_all.lag,
        "lag_growth_second_half_per_s": growth,
        "last_stored_to_last_sealed_s": round(sealed_all.at - stored_all.at, 1),
    }


def _report_a(result: BenchResult) -> None:
    f = result.figures["A"]
    rows = [
        ["producer (send as fast as possible)", f"{f['producer_per_s']:,.0f} events/s"],
        ["ingest: stored by the sink", f"{f['ingest_per_s']:,.0f} events/s"],
        ["sealed (first → last)", f"{f['seal_per_s']:,.0f} events/s"],
        ["seal / ingest", f["seal_over_ingest"]],
        ["sealed while the sink ingests", _rate(f["seal_per_s_while_ingesting"])],
        ["sealed after the sink finished (sealer alone)", _rate(f["seal_per_s_after_ingest"])],
        ["max sealing lag (stored − sealed)", f"{f['max_lag']:,} records"],
        ["sealing lag when ingest ended", f"{f['lag_when_ingest_ended']:,} records"],
        ["lag growth over the 2nd half of ingest", f"{f['lag_growth_second_half_per_s']:,.0f} records/s"],
        ["last stored → last sealed", f"{f['last_stored_to_last_sealed_s']} s"],
        ["sealer peak RSS, CPU", f"{f['sealer_peak_rss_mb']} MB, {f['sealer_cpu_s']} s"],
    ]
    print_table(
        f"A: sealing at max ingest, {f['events']:,} events (sent {f['sent']:,}, acked {f['acked']:,})",
        ["figure", "value"],
        rows,
    )
    series = [Sample(**s) for s in f["series"]]
    figure = Figure(figsize=(10, 7))
    top, bottom = figure.subplots(2, 1, sharex=True)
    at = [s.at for s in series]
    top.plot(at, [s.written for s in series], label="written to the sink topic", color="tab:gray")
    top.plot(at, [s.stored for s in series], label="stored (sink committed)", color="tab:blue")
    top.plot(at, [s.sealed for s in series], label="sealed (sealer committed)", color="tab:orange")
    top.set_ylabel("records")
    top.legend()
    bottom.plot(at, [s.lag for s in series], color="tab:red")
    bottom.set_ylabel("sealing lag (stored − sealed)")
    bottom.set_xlabel("seconds since the first event was sent")
    figure.suptitle(
        f"sealing at max ingest: {f['ingest_per_s']:,.0f}/s stored, {f['seal_per_s']:,.0f}/s sealed"
    )
    _save(figure, result.path("A.png"))


# --- B: checkpoint coverage at a steady rate ------------------------------------------------------
def checkpoint_coverage(settings: Settings, options: Options, result: BenchResult) -> dict[str, Any]:
    pipe = IsolatedPipeline(
        settings,
        f"ib{uuid.uuid4().hex[:8]}",
        RESULTS_DIR / "work" / f"integrity-b-{result.started}",
        integrity_checkpoint_interval_s=options.interval,
    )
    database = pipe.mongo[pipe.settings.mongo_database]
    try:
        with step("B: deploying an isolated pipeline (transformer, sink, sealer)"):
            pipe.deploy()
            pipe.start("transformer")
            pipe.start("sink-watch")
            pipe.start("sealer")
        factory = EventFactory()
        watch = SealProgress(pipe).start()
        with step(f"B: warming up ({WARMUP_S:.0f} s at the same rate, not measured)"):
            warm = _send(pipe, factory, options.rate, WARMUP_S, [])
            wait_for(lambda: _all_sealed(watch, warm), 300, "the warm-up sealed", 0.5)
        sampled: list[str] = []
        with step(f"B: sending {options.rate:,.0f} events/s for {options.duration:.0f} s"):
            sent = _send(pipe, factory, options.rate, options.duration, sampled)
        with step("B: waiting until every event is sealed and covered by a checkpoint"):
            wait_for(
                lambda: _all_sealed(watch, warm + sent) and _all_checkpointed(database),
                TIMEOUT_S,
                "every event covered by a checkpoint",
                0.5,
            )
        watch.stop()
        with step(f"B: reading {len(sampled):,} sampled events, their leaves and the checkpoints"):
            delays = _coverage_delays(database, pipe.settings.mongo_collection, sampled)
            rounds = _checkpoint_rounds(database, options.interval)
    finally:
        pipe.close(drop_data=True)
    seconds = [delay for _, delay in delays]
    return {
        "sent": sent,
        "sampled": len(sampled),
        "covered": len(delays),
        "coverage_s": _percentiles_s(seconds),
        "coverage_intervals": _percentiles_s([s / options.interval for s in seconds]),
        "within_2_intervals_pct": round(
            100 * sum(s <= 2 * options.interval for s in seconds) / len(seconds), 1
        )
        if seconds
        else None,
        "max_sealing_lag": max((s.lag for s in watch.series), default=0),
        "checkpoint_rounds": rounds,
        "series": delays,
    }


def _send(
    pipe: IsolatedPipeline, factory: EventFactory, rate: float, seconds: float, sampled: list[str]
) -> int:
    """Send at ``rate`` for ``seconds`` (token bucket); one id in ``COVER_SAMPLE`` into ``sampled``."""
    emitter = pipe.emitter()
    bucket = TokenBucket(rate)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        bucket.take()
        event = factory.event()
        emitter.send(event)
        if emitter.counts.sent % COVER_SAMPLE == 0:
            sampled.append(event["id"])
    emitter.close()
    return emitter.counts.acked


def _all_sealed(watch: SealProgress, at_least: int) -> bool:
    last = watch.latest()
    return last is not None and last.written >= at_least and last.stored == last.written == last.sealed


def _all_checkpointed(database: Database[Document]) -> bool:
    """Every company's newest checkpoint covers its saved tree (the tree record's own
    ``checkpoint`` is only a hint, updated at the tree's next save)."""
    sizes = {company: tree.state["size"] for company, tree in MongoSealStore(database).trees().items()}
    newest: dict[Any, int] = {}
    for checkpoint in database[CHECKPOINTS].find({}, {"company_id": 1, "tree_size": 1}):
        company = checkpoint["company_id"]
        newest[company] = max(newest.get(company, 0), checkpoint["tree_size"])
    return bool(sizes) and all(newest.get(company) == size for company, size in sizes.items())


def _coverage_delays(
    database: Database[Document], collection: str, sampled: list[str]
) -> list[tuple[float, float]]:
    """(seconds since the first sampled event was ingested, ingested → covered) per sampled event."""
    ingested: dict[str, datetime] = {}
    leaves: dict[str, tuple[int, int]] = {}
    for start in range(0, len(sampled), 500):
        chunk = sampled[start : start + 500]
        for doc in database[collection].find({"_id": {"$in": chunk}}, {"ingested_at": 1}):
            ingested[doc["_id"]] = doc["ingested_at"].replace(tzinfo=UTC)
        for doc in database[LEAVES].find({"_id": {"$in": chunk}}, {"company_id": 1, "index": 1}):
            leaves[doc["_id"]] = (int(doc["company_id"]), int(doc["index"]))
    chains: dict[int, list[tuple[int, datetime]]] = {}
    for doc in database[CHECKPOINTS].find({}, {"company_id": 1, "tree_size": 1, "time": 1}):
        chains.setdefault(int(doc["company_id"]), []).append((int(doc["tree_size"]), _moment(doc["time"])))
    for chain in chains.values():
        chain.sort()
    delays = []
    for event_id in sampled:
        if event_id not in ingested or event_id not in leaves:
            continue
        company, index = leaves[event_id]
        chain = chains.get(company, [])
        found = bisect.bisect_right([size for size, _ in chain], index)  # first size > index
        if found < len(chain):
            delays.append((ingested[event_id], (chain[found][1] - ingested[event_id]).total_seconds()))
    first = min((moment for moment, _ in delays), default=datetime.now(UTC))
    return [((moment - first).total_seconds(), round(delay, 3)) for moment, delay in delays]


def _checkpoint_rounds(database: Database[Document], interval: float) -> dict[str, Any]:
    """Checkpoints signed together (times closer than half an interval): how many, how long."""
    times = sorted(_moment(doc["time"]) for doc in database[CHECKPOINTS].find({}, {"time": 1}))
    rounds: list[list[datetime]] = []
    for moment in times:
        if rounds and (moment - rounds[-1][-1]).total_seconds() < interval / 2:
            rounds[-1].append(moment)
        else:
            rounds.append([moment])
    sizes = sorted(len(r) for r in rounds)
    spans = [(r[-1] - r[0]).total_seconds() for r in rounds]
    return {
        "rounds": len(rounds),
        "checkpoints": len(times),
        "per_round_p50": sizes[len(sizes) // 2] if sizes else 0,
        "per_round_max": sizes[-1] if sizes else 0,
        "round_s": _percentiles_s(spans),
    }


def _report_b(result: BenchResult) -> None:
    f, interval = result.figures["B"], result.parameters["interval"]
    s, n, r = f["coverage_s"], f["coverage_intervals"], f["checkpoint_rounds"]
    print_table(
        f"B: stored → covered by a signed checkpoint, {result.parameters['rate']:,.0f} events/s, "
        f"interval {interval} s ({f['covered']:,} of {f['sampled']:,} sampled events of {f['sent']:,})",
        ["", "p50", "p95", "p99", "max", "within 2 intervals"],
        [
            ["seconds", s["p50"], s["p95"], s["p99"], s["max"], f"{f['within_2_intervals_pct']}%"],
            ["intervals", n["p50"], n["p95"], n["p99"], n["max"], ""],
        ],
    )
    console.print(
        f"max sealing lag {f['max_sealing_lag']:,} records; {r['checkpoints']:,} checkpoints in "
        f"{r['rounds']} rounds (p50 {r['per_round_p50']} companies a round), a round took p50 "
        f"{r['round_s']['p50']} s, max {r['round_s']['max']} s"
    )
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots()
    axes.scatter([t for t, _ in f["series"]], [d for _, d in f["series"]], s=5, color="tab:orange")
    for k in (1, 2):
        axes.axhline(k * interval, color="tab:gray", linestyle="--", linewidth=1)
    axes.set_xlabel("seconds since the first sampled event was ingested")
    axes.set_ylabel("ingested → covered by a checkpoint (s)")
    axes.set_title(f"checkpoint coverage at {result.parameters['rate']:,.0f}/s, interval {interval} s")
    _save(figure, result.path("B.png"))


# --- C: proof latency on a big log ---------------------------------------------------------------
def proof_latency(settings: Settings, options: Options, result: BenchResult) -> dict[str, Any]:
    database_name = f"bench_integrity_{uuid.uuid4().hex[:8]}"
    scoped = api_settings(settings, database_name, API_PORT)
    workdir = RESULTS_DIR / "work" / f"integrity-c-{result.started}"
    client: MongoClient[Document] = MongoClient(settings.mongo_uri.get_secret_value())
    api = IsolatedPipeline(scoped, "integrity", workdir)
    api.settings = scoped
    try:
        loaded, ids, trees = _load_sealed(settings, client[database_name], options, workdir)
        api.start("api")
        wait_for(lambda: http_ok(f"{scoped.api_url}/health"), 60, "authtrail serve")
        key = create_key(scoped, None, "benchmark").secret_key
        with httpx.Client(
            base_url=scoped.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            requests = _proof_requests(http, ids, trees, options.repeats)
    finally:
        api.close()
        client.drop_database(database_name)
        client.close()
    return {"load": loaded, "companies": len(trees), "largest_log": max(trees.values()), **requests}


def _load_sealed(
    settings: Settings, database: Database[Document], options: Options, workdir: Path
) -> tuple[dict[str, Any], list[str], dict[int, int]]:
    """Store and seal ``size`` events (the real writer), index, checkpoint; (figures, some ids,
    each company's tree size)."""
    events = database[settings.mongo_collection]
    store = MongoSealStore(database)
    store.ensure_indexes()
    sealer = Sealer(store)
    sealer.recover()
    workdir.mkdir(parents=True, exist_ok=True)
    private = workdir / f"checkpoint-{uuid.uuid4().hex[:8]}.key"
    generate_key_pair(private, private.with_name(private.name + ".pub"))
    checkpointer = Checkpointer(store, load_private_key(private))
    timing = {"make": 0.0, "insert": 0.0, "seal": 0.0}
    ids: list[str] = []
    documents: list[RawBSONDocument] = []
    sealables: list[Sealable] = []

    def flush() -> None:
        started = time.perf_counter()
        for start in range(0, len(documents), 5000):
            events.insert_many(documents[start : start + 5000], ordered=False)
        timing["insert"] += time.perf_counter() - started
        started = time.perf_counter()
        sealer.seal(sealables)
        timing["seal"] += time.perf_counter() - started
        documents.clear()
        sealables.clear()

    made = _timed(
        stored_documents(settings, options.size, seed=11, spread_s=SPREAD_S, users=options.companies)
    )
    with progress(f"C: storing and sealing {options.size:,} events", total=options.size) as advance:
        for number, (value, seconds) in enumerate(made):
            documents.append(RawBSONDocument(value))
            started = time.perf_counter()
            sealables.append(decode_sealable(value))
            timing["make"] += seconds + time.perf_counter() - started
            if number % ID_SAMPLE == 0:
                ids.append(sealables[-1].event_id)
            if len(documents) == SEAL_BATCH:
                flush()
                advance(SEAL_BATCH)
        if documents:
            advance(len(documents))
            flush()
    with step("C: query indexes, planner statistics, a checkpoint round"):
        started = time.perf_counter()
        ensure_indexes(events)
        for name in (settings.mongo_collection, LEAVES, NODES, CHECKPOINTS):
            database.command("compact", name)  # as bench query: the plans of a collection filled over time
        indexed = time.perf_counter() - started
        started = time.perf_counter()
        signed = checkpointer.run(sealer.trees)
        checkpointed = time.perf_counter() - started
    size = options.size
    loaded = {
        "events": size,
        "make_s": round(timing["make"], 1),
        "insert_s": round(timing["insert"], 1),
        "insert_per_s": per_second(size, timing["insert"]),
        "seal_s": round(timing["seal"], 1),
        "seal_per_s": per_second(size, timing["seal"]),
        "index_s": round(indexed, 1),
        "checkpoints": len(signed),
        "checkpoint_round_s": round(checkpointed, 2),
        "leaves": database[LEAVES].estimated_document_count(),
        "nodes": database[NODES].estimated_document_count(),
    }
    return loaded, ids, {company: tree.size for company, tree in sealer.trees.items()}


def _timed(values: Iterator[bytes]) -> Iterator[tuple[bytes, float]]:
    """Each value with the seconds it took to make."""
    while True:
        started = time.perf_counter()
        try:
            value = next(values)
        except StopIteration:
            return
        yield value, time.perf_counter() - started


def _proof_requests(
    http: httpx.Client, ids: list[str], trees: dict[int, int], repeats: int
) -> dict[str, Any]:
    rng = random.Random(5)
    companies = sorted(trees)

    def consistency() -> tuple[str, dict[str, Any]]:
        company = rng.choice(companies)
        return "/checkpoints/consistency", {
            "company_id": company,
            "from": rng.randint(1, max(1, trees[company] - 1)),
            "to": trees[company],
        }

    kinds: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
        "event lookup (reference)": lambda: (f"/audit_events/{rng.choice(ids)}", {}),
        "inclusion proof": lambda: (f"/audit_events/{rng.choice(ids)}/proof", {}),
        "consistency proof": consistency,
    }
    checked = _check_proof(http, rng.choice(ids))
    for make in kinds.values():  # warm-up: connections, the key's cache, the first plans
        for _ in range(5):
            path, params = make()
            http.get(path, params=params)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors = dict.fromkeys(kinds, 0)
    with progress(f"C: {repeats} rounds of each request", total=repeats) as advance:
        for _ in range(repeats):
            for kind, make in kinds.items():
                path, params = make()
                started = time.perf_counter()
                status = http.get(path, params=params).status_code
                times[kind].append(time.perf_counter() - started)
                errors[kind] += status != 200
            advance(1)
    figures = {kind: {**percentiles_ms(times[kind]), "errors": errors[kind]} for kind in kinds}
    reference = figures["event lookup (reference)"]
    return {
        "requests": figures,
        "proof_checked": checked,
        "over_lookup_p99": {
            kind: ratio(figures[kind]["p99"], reference["p99"])
            for kind in ("inclusion proof", "consistency proof")
        },
    }


def _check_proof(http: httpx.Client, event_id: str) -> dict[str, Any]:
    """One proof, verified: the benchmark times real answers."""
    response = http.get(f"/audit_events/{event_id}/proof")
    response.raise_for_status()
    body = response.json()
    verify_inclusion(
        bytes.fromhex(body["leaf_hash"]),
        body["leaf_index"],
        body["tree_size"],
        [bytes.fromhex(h) for h in body["inclusion_proof"]],
        bytes.fromhex(body["checkpoint"]["root_hash"]),
    )
    return {
        "event_id": event_id,
        "tree_size": body["tree_size"],
        "proof_hashes": len(body["inclusion_proof"]),
    }


def _report_c(result: BenchResult) -> None:
    f = result.figures["C"]
    load = f["load"]
    rows = [[kind, p["p50"], p["p95"], p["p99"], p["max"], p["errors"]] for kind, p in f["requests"].items()]
    rows += [[f"{kind} / lookup, p99", "", "", ratio, "", ""] for kind, ratio in f["over_lookup_p99"].items()]
    print_table(
        f"C: one request at a time, {load['events']:,} events in {f['companies']} logs "
        f"(largest {f['largest_log']:,}) — ms",
        ["request", "p50", "p95", "p99", "max", "errors"],
        rows,
    )
    console.print(
        f"load: made {load['make_s']} s, inserted {load['insert_per_s']:,.0f}/s, sealed by Sealer over "
        f"MongoSealStore {load['seal_per_s']:,.0f}/s ({load['leaves']:,} leaves, {load['nodes']:,} nodes), "
        f"indexes + statistics {load['index_s']} s, {load['checkpoints']} checkpoints in "
        f"{load['checkpoint_round_s']} s; proof checked: {f['proof_checked']}"
    )
    kinds = list(f["requests"])
    charts.grouped_bars(
        result.path("C.png"),
        f"proof latency, one request at a time ({load['events']:,} events, largest log {f['largest_log']:,})",
        kinds,
        {stat: [f["requests"][kind][stat] for kind in kinds] for stat in ("p50", "p95", "p99", "max")},
        "milliseconds (log)",
        log=True,
    )


# --- D: offline verification ---------------------------------------------------------------------
def offline_verification(settings: Settings, options: Options, result: BenchResult) -> dict[str, Any]:
    bundle = RESULTS_DIR / "work" / f"integrity-d-{result.started}"
    try:
        public, company = _write_bundle(settings, bundle, options.size)
        keys = [load_public_key(public)]
        with step(f"D: reading and hashing {options.size:,} events (read_bundle)"):
            started = time.perf_counter()
            checkpoints, leaves, events = read_bundle(bundle)
            read_s = time.perf_counter() - started
        with step("D: verifying them (verify_log)"):
            started = time.perf_counter()
            report = verify_log(company, keys, checkpoints, leaves, events)
            verify_s = time.perf_counter() - started
        del checkpoints, leaves, events
        with step("D: authtrail verify --offline, as a user runs it"):
            started = time.perf_counter()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scripts",
                    "verify",
                    "--offline",
                    str(bundle),
                    "--public-key",
                    str(public),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "AUTHTRAIL_LOG_DIR": str(bundle / "log")},
            )
            memory = PeakRss(process.pid)
            _, error = process.communicate(timeout=TIMEOUT_S)
            cli_s = time.perf_counter() - started
        size = options.size
        return {
            "events": size,
            "bundle_mb": round(sum(p.stat().st_size for p in bundle.glob("*.*json")) / 1e6, 1),
            "ok": report.ok,
            "findings": len(report.findings),
            "leaves_checked": report.leaves,
            "read_and_hash": {"seconds": round(read_s, 2), "events_per_s": per_second(size, read_s)},
            "verify": {"seconds": round(verify_s, 2), "events_per_s": per_second(size, verify_s)},
            "together": {
                "seconds": round(read_s + verify_s, 2),
                "events_per_s": per_second(size, read_s + verify_s),
            },
            "cli": {
                "seconds": round(cli_s, 2),
                "events_per_s": per_second(size, cli_s),
                "exit_code": process.returncode,
                "peak_rss_mb": memory.stop(),
                "stderr": error.decode(errors="replace")[-2000:],
            },
        }
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


def _write_bundle(settings: Settings, directory: Path, size: int) -> tuple[Path, int]:
    """One company's ``size`` events, leaves and a checkpoint chain (one per
    ``BUNDLE_CHECKPOINT_EVERY`` leaves and the last), as ``authtrail verify --save`` writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "signing.key", directory / "signing.key.pub"
    generate_key_pair(private, public)
    signing_key = load_private_key(private)
    signer = key_id(signing_key.public_key())
    tree = CompactRange()
    chain: list[SignedCheckpoint] = []
    company = 0
    with (
        progress(f"D: writing a bundle of {size:,} events of one company", total=size) as advance,
        (directory / "events.ndjson").open("wb") as events,
        (directory / "leaves.ndjson").open("w") as leaves,
    ):
        for value in stored_documents(settings, size, seed=13, users=1):
            event = audit_event(bson.decode(value))
            company = event["company_id"]
            events.write(dumps(event) + b"\n")
            digest = leaf_hash(event)
            leaves.write(
                json.dumps({"index": tree.size, "event_id": event["id"], "leaf_hash": digest.hex()}) + "\n"
            )
            tree.append(digest)
            if tree.size % BUNDLE_CHECKPOINT_EVERY == 0 or tree.size == size:
                made = new_checkpoint(
                    company,
                    tree.size,
                    tree.root(),
                    datetime.now(UTC),
                    chain[-1].checkpoint if chain else None,
                    signer,
                )
                chain.append(sign(made, signing_key))
            if tree.size % 10_000 == 0:
                advance(10_000)
        advance(tree.size % 10_000)
    (directory / "checkpoints.json").write_text(json.dumps({"data": [signed.to_dict() for signed in chain]}))
    return public, company


def _report_d(result: BenchResult) -> None:
    f = result.figures["D"]
    print_table(
        f"D: offline verification of one company's {f['events']:,} events ({f['bundle_mb']} MB bundle; "
        f"ok={f['ok']}, {f['findings']} findings, {f['leaves_checked']:,} leaves)",
        ["stage", "seconds", "events/s"],
        [
            [
                "read_bundle: parse + hash every event",
                f["read_and_hash"]["seconds"],
                f["read_and_hash"]["events_per_s"],
            ],
            ["verify_log: chain, roots, events", f["verify"]["seconds"], f["verify"]["events_per_s"]],
            ["both, in one process", f["together"]["seconds"], f["together"]["events_per_s"]],
            [
                f"authtrail verify --offline (exit {f['cli']['exit_code']}, "
                f"peak RSS {f['cli']['peak_rss_mb']} MB)",
                f["cli"]["seconds"],
                f["cli"]["events_per_s"],
            ],
        ],
    )
    if f["cli"]["exit_code"] != 0:
        console.print(f"authtrail verify said: {f['cli']['stderr']}")


# --- shared ------------------------------------------------------------------------------------
def _moment(value: str) -> datetime:
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def _percentiles_s(values: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max of values in seconds (or intervals), kept in that unit."""
    return {k: (round(v / 1000, 2) if k != "count" else v) for k, v in percentiles_ms(values).items()}


def _rate(value: float | None) -> str:
    return f"{value:,.0f} events/s" if value is not None else "-"


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    console.print(f"chart: {path}")
