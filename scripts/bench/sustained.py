"""``authtrail bench sustained``: the seed's load test — a steady rate for a while.

A fresh, isolated pipeline on the local stack (its own topics, group, connector, database;
its transformer, sink watch and sealer as processes, as `authtrail up` runs them) receives
``rate`` events/s for ``duration`` s.
Reported: sent / acked / stored (must be equal), consumer lag over time, and produce →
queryable latency percentiles from sampled events.

Steady state is what is measured: a new pipeline starts cold (the connector's task is
assigned, consumers join their groups, the first batches are slow), so a short warm-up at the
same rate runs first and is waited on until stored; its own figures are reported apart, as
the start-up transient.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.token_bucket import TokenBucket
from authtrail.waiting import wait_for
from scripts.bench import charts
from scripts.bench.lag import LagSampler
from scripts.bench.probe import LatencyProbe
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms
from scripts.console import console, step
from scripts.stack.isolated_pipeline import IsolatedPipeline

DRAIN_TIMEOUT_S = 300
PROBE_EVERY = 20  # one event in 20 is timed
WARMUP_S = 3.0


def run(settings: Settings, rate: float, duration: float, sample_every: int = PROBE_EVERY) -> BenchResult:
    result = BenchResult(
        "sustained",
        {
            "rate_per_s": rate,
            "duration_s": duration,
            "probe_every": sample_every,
            "raw_partitions": settings.raw_partitions,
            "connector_tasks_max": settings.connector_tasks_max,
        },
    )
    pipe = IsolatedPipeline(
        settings, f"bench{uuid.uuid4().hex[:8]}", RESULTS_DIR / "work" / f"sustained-{result.started}"
    )
    try:
        with step("deploying an isolated pipeline"):
            pipe.deploy()
            pipe.start("transformer")
            pipe.start("sink-watch")
            pipe.start("sealer")  # as `authtrail up` runs it: the seed's load on the whole system
        figures = drive(pipe, rate, duration, sample_every)
        result.figures.update(figures)
    finally:
        pipe.close(drop_data=True)
    _report(result)
    return result


def drive(
    pipe: IsolatedPipeline, rate: float, duration: float, sample_every: int, preloaded: int = 0
) -> dict[str, Any]:
    """Send at ``rate`` for ``duration`` s into a running pipeline (whose collection already
    holds ``preloaded`` documents); measure until drained."""
    factory = EventFactory()
    warmup = _warm_up(pipe, factory, rate, preloaded)
    preloaded += warmup["events"]
    emitter = pipe.emitter()  # a fresh one: its counts are the measured run's alone
    probe = LatencyProbe(pipe.settings, every=sample_every).start()
    lag = LagSampler(pipe.settings).start()
    try:
        bucket = TokenBucket(rate)
        sent_per_s: list[tuple[float, float]] = []
        started = time.monotonic()
        with step(f"sending {rate:,.0f} events/s for {duration:.0f} s"):
            last_mark, last_count = started, 0
            while (now := time.monotonic()) - started < duration:
                bucket.take()
                event = factory.event()
                emitter.send(event)
                probe.sent(event["id"])
                if now - last_mark >= 1.0:
                    sent_per_s.append(
                        (round(now - started, 1), (emitter.counts.sent - last_count) / (now - last_mark))
                    )
                    last_mark, last_count = now, emitter.counts.sent
            emitter.flush(120)
        send_seconds = time.monotonic() - started
        with step("waiting until every event is stored"):
            wait_for(
                lambda: lag.sample() == (0, 0) and probe.drained(), DRAIN_TIMEOUT_S, "the pipeline to drain"
            )
        drained_after = time.monotonic() - started - send_seconds
    finally:  # also on SIGTERM: the samplers must not outlive the pipeline they read
        probe.stop()
        lag.stop()
    emitter.close()
    stored = pipe.collection.count_documents({}) - preloaded
    latency = percentiles_ms([latency for _, latency in probe.samples])
    return {
        "sent": emitter.counts.sent,
        "acked": emitter.counts.acked,
        "failed": emitter.counts.failed,
        "stored": stored,
        "lost": emitter.counts.acked - stored,
        "achieved_rate_per_s": per_second(emitter.counts.acked, send_seconds),
        "drained_s_after_last_send": round(drained_after, 1),
        "produce_to_queryable_ms": latency,
        "probe_lookups": probe.lookups,
        "max_transformer_lag": max((t for _, t, _ in lag.series), default=0),
        "max_sink_lag": max((s for _, _, s in lag.series), default=0),
        "startup_transient": warmup,
        "series": {"sent_per_s": sent_per_s, "latency_samples": probe.samples, "lag": lag.series},
    }


def _warm_up(pipe: IsolatedPipeline, factory: EventFactory, rate: float, preloaded: int) -> dict[str, Any]:
    """``WARMUP_S`` of traffic at ``rate``, waited on until stored: the cold start's cost,
    measured apart from the steady state (first event sent → last event queryable)."""
    bucket = TokenBucket(rate)
    events = max(1, int(rate * WARMUP_S))
    with step(f"warming the pipeline up ({events:,} events, not measured as steady state)"):
        started = time.monotonic()
        emitter = pipe.emitter()
        for _ in range(events):
            bucket.take()
            emitter.send(factory.event())
        emitter.close()
        pipe.wait_stored(preloaded + events, timeout_s=DRAIN_TIMEOUT_S)
    return {"events": events, "all_queryable_after_s": round(time.monotonic() - started, 2)}


def _report(result: BenchResult) -> None:
    f = result.figures
    latency = f["produce_to_queryable_ms"]
    print_table(
        "sustained load",
        ["sent", "acked", "stored", "lost", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "max lag"],
        [
            [
                f["sent"],
                f["acked"],
                f["stored"],
                f["lost"],
                f["achieved_rate_per_s"],
                latency["p50"],
                latency["p95"],
                latency["p99"],
                latency["max"],
                max(f["max_transformer_lag"], f["max_sink_lag"]),
            ]
        ],
    )
    result.figures["targets"] = {
        "zero loss": f["lost"] == 0 and f["failed"] == 0,
        "p99 produce→queryable ≤ 1 s": latency["p99"] <= 1000,
    }
    console.print(f"start-up transient (apart): {f['startup_transient']}")
    console.print(f"targets: {result.figures['targets']}")
    series = f["series"]
    chart = charts.over_time(
        result.path("png"),
        f"sustained {result.parameters['rate_per_s']:,.0f}/s",
        series["sent_per_s"],
        series["latency_samples"],
        series["lag"],
    )
    console.print(f"chart: {chart}")
    result.save()
