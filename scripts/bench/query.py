"""``authtrail bench query``: the API under a fixed mix of requests, next to the store's own cost.

For each size N: N pipeline-shaped documents are bulk-inserted (``insert_many`` of the
documents the transformer would produce, then the query indexes are built) into a fresh
database; ``authtrail serve`` answers a fixed mix of seven request types from ``concurrency``
concurrent clients for ``duration`` seconds; then the same queries — page and count,
concurrently, under the same time limit — go straight to the store through pymongo with the
same concurrency. Per type: throughput, p50/p95/p99, errors, and API p50 / direct p50.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, MongoClient

from authtrail.contract import load_contract
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from connect.stored_shape import StoredShape
from query_service.params import AuditQuery
from query_service.query import NEWEST_FIRST, mongo_filter
from scripts.bench import charts
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms
from scripts.bench.throughput import PeakRss
from scripts.console import step
from scripts.isolated import Pipeline
from scripts.keys import create_key
from scripts.waiting import wait_for

API_PORT = 14999
SPREAD_S = 30 * 86_400  # events spread over the past 30 days


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0


def request_mix(sample: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's fixed mix, with values taken from a stored event so filters match data."""
    now = int(time.time())
    return {
        "no filter, page 1": {},
        "company_id": {"company_id": sample["company_id"]},
        "user_id": {"user_id": sample["user_id"]},
        "event_type + time range": {
            "event_type": "login",
            "timestamp_from": now - 86_400,
            "timestamp_to": now,
        },
        "company + event_resource_type": {"company_id": sample["company_id"], "event_resource_type": "bug"},
        "page 1,000 at per_page 10": {"page": 1000, "per_page": 10},
        "per_page 1000": {"per_page": 1000},
    }


def load(settings: Settings, database: str, count: int, users: int) -> dict[str, Any]:
    """Bulk-insert ``count`` documents (fast path), then build the query indexes."""
    from scripts.bench.documents import pipeline_documents

    shape = StoredShape(load_contract(settings.schemas_dir).stored_shape)
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    collection = client[database][settings.mongo_collection]
    started = time.monotonic()
    batch: list[RawBSONDocument] = []
    sample: dict[str, Any] = {}
    for document in pipeline_documents(settings, count, seed=7, spread_s=SPREAD_S, users=users):
        sample = sample or {"company_id": document["company_id"], "user_id": document["user_id"]}
        batch.append(RawBSONDocument(shape.encode(document)))
        if len(batch) == 5000:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)
    inserted = time.monotonic() - started
    ensure_indexes(collection)
    indexed = time.monotonic() - started - inserted
    client.close()
    return {
        "sample": sample,
        "insert_s": round(inserted, 1),
        "index_s": round(indexed, 1),
        "load_per_s": per_second(count, inserted),
    }


async def _drive(call: Any, mix: dict[str, dict[str, Any]], concurrency: int, duration: float) -> Samples:
    samples = Samples()
    order = itertools.cycle(list(mix))
    deadline = time.monotonic() + duration

    async def client_loop() -> None:
        while time.monotonic() < deadline:
            kind = next(order)
            started = time.perf_counter()
            ok = await call(mix[kind])
            samples.latencies[kind].append(time.perf_counter() - started)
            if not ok:
                samples.errors[kind] += 1

    started = time.monotonic()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    samples.seconds = time.monotonic() - started
    return samples


async def through_api(
    url: str, key: str, mix: dict[str, dict[str, Any]], concurrency: int, duration: float
) -> Samples:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:

        async def call(params: dict[str, Any]) -> bool:
            return (await client.get("/audit_events", params=params)).status_code == 200

        return await _drive(call, mix, concurrency, duration)


async def direct(
    settings: Settings, database: str, mix: dict[str, dict[str, Any]], concurrency: int, duration: float
) -> Samples:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri.get_secret_value(), maxPoolSize=concurrency * 2, tz_aware=True
    )
    collection = client[database][settings.mongo_collection]
    limit_ms = settings.mongo_query_timeout_ms

    async def call(params: dict[str, Any]) -> bool:
        query = AuditQuery(**params)
        conditions = mongo_filter(query)
        try:
            await asyncio.gather(
                collection.find(
                    conditions, sort=NEWEST_FIRST, skip=query.skip, limit=query.per_page, max_time_ms=limit_ms
                ).to_list(),
                collection.count_documents(conditions, maxTimeMS=limit_ms),
            )
        except Exception:
            return False
        return True

    try:
        return await _drive(call, mix, concurrency, duration)
    finally:
        await client.close()


def run(settings: Settings, sizes: list[int], concurrency: int, duration: float) -> BenchResult:
    result = BenchResult(
        "query",
        {
            "sizes": sizes,
            "concurrency": concurrency,
            "duration_s": duration,
            "api_workers": settings.api_workers,
            "query_timeout_ms": settings.mongo_query_timeout_ms,
            "load": "insert_many of pipeline-shaped documents, then the query indexes",
        },
    )
    for size in sizes:
        result.figures[str(size)] = _one_size(settings, size, concurrency, duration, result.started)
    _report(result)
    return result


def _one_size(
    settings: Settings, size: int, concurrency: int, duration: float, started: str
) -> dict[str, Any]:
    database = f"bench_query_{uuid.uuid4().hex[:8]}"
    scoped = settings.model_copy(
        update={
            "mongo_database": database,
            "api_port": API_PORT,
            # The benchmark measures latency, not the per-key abuse limit.
            "api_rate_limit_per_s": 1e9,
            "api_rate_limit_burst": 1e9,
        }
    )
    with step(f"loading {size:,} documents"):
        loaded = load(settings, database, size, users=max(50, size // 20))
    api = Pipeline(scoped, f"q{size}", RESULTS_DIR / "work" / f"query-{started}-{size}")
    api.settings = scoped
    try:
        process = api.start("api")
        wait_for(lambda: _healthy(scoped.api_url), 60, "authtrail serve")
        key = create_key(scoped, None, "benchmark").secret_key
        mix = request_mix(loaded["sample"])
        memory = PeakRss(process.pid)
        with step(f"N={size:,}: {concurrency} clients on the API for {duration:.0f} s"):
            api_samples = asyncio.run(through_api(scoped.api_url, key, mix, concurrency, duration))
        api_rss = memory.stop()
        with step(f"N={size:,}: {concurrency} clients straight on the store for {duration:.0f} s"):
            direct_samples = asyncio.run(direct(scoped, database, mix, concurrency, duration))
    finally:
        api.close()
        cleanup: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
        with cleanup:
            cleanup.drop_database(database)
    per_type = {}
    for kind in mix:
        through = percentiles_ms(api_samples.latencies[kind])
        store = percentiles_ms(direct_samples.latencies[kind])
        per_type[kind] = {
            "api": {
                **through,
                "per_s": per_second(through["count"], api_samples.seconds),
                "errors": api_samples.errors[kind],
            },
            "direct": {
                **store,
                "per_s": per_second(store["count"], direct_samples.seconds),
                "errors": direct_samples.errors[kind],
            },
            "api_over_direct_p50": round(through["p50"] / store["p50"], 2) if store["p50"] else None,
        }
    return {"load": loaded, "api_peak_rss_mb": api_rss, "request_types": per_type}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _report(result: BenchResult) -> None:
    for size, figures in result.figures.items():
        rows = []
        for kind, f in figures["request_types"].items():
            rows.append(
                [
                    kind,
                    f["api"]["per_s"],
                    f["api"]["p50"],
                    f["api"]["p95"],
                    f["api"]["p99"],
                    f["api"]["errors"],
                    f["direct"]["p50"],
                    f["direct"]["p99"],
                    f["direct"]["errors"],
                    f["api_over_direct_p50"] or "-",
                ]
            )
        print_table(
            f"query mix, N={int(size):,}, {result.parameters['concurrency']} clients, API peak RSS "
            f"{figures['api_peak_rss_mb']} MB",
            [
                "request",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "direct p50",
                "direct p99",
                "direct err",
                "API/direct p50",
            ],
            rows,
        )
    last = result.figures[str(result.parameters["sizes"][-1])]["request_types"]
    kinds = list(last)
    charts.grouped_bars(
        result.path("png"),
        f"latency per request type (N={result.parameters['sizes'][-1]:,})",
        kinds,
        {
            "API p50": [last[k]["api"]["p50"] for k in kinds],
            "API p99": [last[k]["api"]["p99"] for k in kinds],
            "direct p50": [last[k]["direct"]["p50"] for k in kinds],
            "direct p99": [last[k]["direct"]["p99"] for k in kinds],
        },
        "milliseconds (log)",
        log=True,
    )
    result.save()
