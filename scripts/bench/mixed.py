"""``authtrail bench mixed``: queries while ingest runs — both sides' figures from one run.

An isolated pipeline over a collection preloaded with ``size`` documents ingests ``rate``
events/s (latency probe and lag sampling as in ``sustained``) while ``concurrency`` clients
run the query mix against ``authtrail serve`` on the same collection.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from scripts.bench import charts
from scripts.bench.query import API_PORT, load, request_mix, through_api
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms
from scripts.bench.sustained import PROBE_EVERY, drive
from scripts.console import console, step
from scripts.stack.isolated_pipeline import IsolatedPipeline


def run(settings: Settings, rate: float, duration: float, size: int, concurrency: int) -> BenchResult:
    result = BenchResult(
        "mixed",
        {
            "rate_per_s": rate,
            "duration_s": duration,
            "preloaded": size,
            "concurrency": concurrency,
            "query_timeout_ms": settings.mongo_query_timeout_ms,
        },
    )
    pipe = IsolatedPipeline(
        settings,
        f"mix{uuid.uuid4().hex[:8]}",
        RESULTS_DIR / "work" / f"mixed-{result.started}",
        api_port=API_PORT,
        api_rate_limit_per_s=1e9,
        api_rate_limit_burst=1e9,
    )
    try:
        with step("deploying an isolated pipeline"):
            pipe.deploy()
        loaded = load(settings, pipe.settings.mongo_database, size, users=max(50, size // 20))
        pipe.start("transformer")
        pipe.start("sink-watch")
        pipe.start("api")
        wait_for(lambda: http_ok(f"{pipe.settings.api_url}/health"), 60, "authtrail serve")
        key = create_key(pipe.settings, None, "benchmark").secret_key
        ingest: dict[str, Any] = {}
        ingester = threading.Thread(
            target=lambda: ingest.update(drive(pipe, rate, duration, PROBE_EVERY, preloaded=size)),
            daemon=True,
        )
        ingester.start()
        with step(f"{concurrency} query clients while ingesting {rate:,.0f}/s for {duration:.0f} s"):
            samples = asyncio.run(
                through_api(pipe.settings.api_url, key, request_mix(loaded["sample"]), concurrency, duration)
            )
        ingester.join(600)
    finally:
        pipe.close(drop_data=True)
    result.figures["ingest"] = ingest
    result.figures["queries"] = {
        kind: {
            **percentiles_ms(latencies),
            "per_s": per_second(len(latencies), samples.seconds),
            "errors": samples.errors[kind],
        }
        for kind, latencies in samples.latencies.items()
    }
    _report(result)
    return result


def _report(result: BenchResult) -> None:
    ingest, queries = result.figures["ingest"], result.figures["queries"]
    latency = ingest.get("produce_to_queryable_ms", {})
    print_table(
        "ingest while queried",
        ["sent", "stored", "lost", "p50 ms", "p99 ms", "max lag"],
        [
            [
                ingest.get("sent", 0),
                ingest.get("stored", 0),
                ingest.get("lost", 0),
                latency.get("p50", 0),
                latency.get("p99", 0),
                max(ingest.get("max_transformer_lag", 0), ingest.get("max_sink_lag", 0)),
            ]
        ],
    )
    print_table(
        "queries while ingesting",
        ["request", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [[k, q["per_s"], q["p50"], q["p95"], q["p99"], q["errors"]] for k, q in queries.items()],
    )
    series = ingest.get("series", {})
    if series:
        chart = charts.over_time(
            result.path("png"),
            f"ingest at {result.parameters['rate_per_s']:,.0f}/s under query load",
            series["sent_per_s"],
            series["latency_samples"],
            series["lag"],
        )
        console.print(f"chart: {chart}")
    result.save()
