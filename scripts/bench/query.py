"""``authtrail bench query``: the API under a fixed mix of requests, next to the store's own cost.

For each size N, N pipeline-shaped documents are bulk-inserted (``insert_many`` of the
documents the transformer would produce, then the query indexes are built) into a fresh
database, and ``authtrail serve`` answers the issue's eight request types in two phases:

1. **alone**: each request type by itself, one client, ``repeats`` rounds; in each, the request
   goes through the API, straight through the API's own store code (``AuditStore.page``: page
   and count concurrently, under the same time limit, without HTTP), and ``GET /health`` goes
   through the API (its floor: HTTP, framework, log line — no key, no store), the side that
   goes first rotating. This is each query's cost without queueing, how it grows with N, and
   the API's overhead as the ratio and the difference of the two p50s, measured side by side
   where the store is not saturated. A p99 of fewer than 100 rounds is their maximum.
2. **mix**: ``concurrency`` clients cycle through the seven types for ``duration`` seconds, API
   and then direct: throughput, p50/p95/p99 and errors under load.
3. **metrics overhead**: the same mix through a second API on the same data with metrics
   switched off (``metrics_enabled=false``), in alternating slices: the API process's CPU time
   per request and the requests/s, counted over uncounted, measured in this run.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

import httpx
import psutil
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.waiting import http_ok, wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.params import parse_query
from query_service.query import disjuncts
from query_service.store import AuditStore, StoreUnavailableError
from scripts.bench import charts
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms, ratio, rotated
from scripts.bench.throughput import PeakRss
from scripts.console import progress, step
from scripts.stack.isolated_pipeline import IsolatedPipeline

API_PORT = 14999
SPREAD_S = 30 * 86_400  # events spread over the past 30 days
Call = Callable[[dict[str, Any]], Awaitable[bool]]
LoadOrder = Literal["arrival", "random"]


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    first: dict[str, float] = field(default_factory=dict)  # seconds of the untimed first request


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
        "time range only (1 day)": {"timestamp_from": now - 86_400, "timestamp_to": now},
        "company + event_resource_type": {"company_id": sample["company_id"], "event_resource_type": "bug"},
        "page 1,000 at per_page 10": {"page": 1000, "per_page": 10},
        "per_page 1000": {"per_page": 1000},
    }


# The stack's FerretDB answers a count of a date range (alone or with one equality) from hourly
# histograms its triggers keep, once a count of that shape matched this many events; it sets one
# up detached from the request (scripts/stack/ferretdb/README.md, *Counting a time range*).
HISTOGRAM_MIN_ROWS = 20_000
HISTOGRAM_TIMEOUT_S = 900.0
RANGE_OPERATORS = {"$gte", "$gt", "$lte", "$lt"}


def histogram_shaped(conditions: dict[str, Any]) -> bool:
    """A date range on one field, and at most one equality on another."""
    ranges = [v for v in conditions.values() if isinstance(v, dict)]
    return (
        len(ranges) == 1
        and len(conditions) <= 2
        and set(ranges[0]) <= RANGE_OPERATORS
        and all(isinstance(bound, datetime) for bound in ranges[0].values())
    )


def _reads_histogram(database: Database[dict[str, Any]], command: dict[str, Any]) -> bool:
    return bool(database.command("explain", command)["histogramCount"])


def await_histograms(settings: Settings, mix: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Wait until the store reads each time-range count of the mix from its histogram, so the
    rounds measure what every count after the first few costs; returns each wait (seconds), to
    report apart, as the first requests are. Nothing on a store without them (explain says)."""
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    database = client[settings.mongo_database]
    waited: dict[str, float] = {}
    with client:
        for kind, params in mix.items():
            query = parse_query(
                [(name, str(value)) for name, value in params.items()], settings.api_max_per_page
            )
            for conditions in filter(histogram_shaped, disjuncts(query)):
                pipeline = [{"$match": conditions}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
                command = {"aggregate": settings.mongo_collection, "pipeline": pipeline, "cursor": {}}
                if "histogramCount" not in database.command("explain", command):
                    return waited  # not the stack's FerretDB
                started = time.monotonic()
                if database[settings.mongo_collection].count_documents(conditions) < HISTOGRAM_MIN_ROWS:
                    continue
                with step(f"waiting for the store's histogram of '{kind}'"):
                    wait_for(
                        partial(_reads_histogram, database, command),
                        HISTOGRAM_TIMEOUT_S,
                        f"the store's histogram of '{kind}'",
                        interval_s=1.0,
                    )
                waited[kind] = round(time.monotonic() - started, 1)
    return waited


def api_settings(settings: Settings, database: str, port: int) -> Settings:
    """An API of its own on ``database``: the benchmarks measure latency, not the per-key limit
    (and leave the metrics port to a running system's API)."""
    return settings.model_copy(
        update={
            "mongo_database": database,
            "api_port": port,
            "api_metrics_port": 0,
            "api_rate_limit_per_s": 1e9,
            "api_rate_limit_burst": 1e9,
        }
    )


def load(
    settings: Settings, database: str, count: int, users: int, order: LoadOrder = "arrival"
) -> dict[str, Any]:
    """Bulk-insert ``count`` documents (fast path), then build the query indexes. In ``arrival``
    order the store holds them as ingest leaves it — by arrival, so nearly by event time; in
    ``random`` order a time range is scattered over the whole table (a worst case: a bulk import
    of shuffled history)."""
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    collection = client[database][settings.mongo_collection]
    started = time.monotonic()
    batch: list[RawBSONDocument] = []
    sample: dict[str, Any] = {}
    documents = stored_documents(
        settings, count, seed=7, spread_s=SPREAD_S, users=users, arrival_order=order == "arrival"
    )
    with progress(f"inserting {count:,} documents ({order} order)", total=count) as advance:
        for value in documents:
            document = RawBSONDocument(value)
            sample = sample or {"company_id": document["company_id"], "user_id": document["user_id"]}
            batch.append(document)
            if len(batch) == 5000:
                collection.insert_many(batch, ordered=False)
                advance(len(batch))
                batch = []
        if batch:
            collection.insert_many(batch, ordered=False)
            advance(len(batch))
    inserted = time.monotonic() - started
    with step("building the query indexes and planner statistics"):
        ensure_indexes(collection)
        # A table bulk-loaded in one go has no planner statistics yet (autovacuum gets to it
        # later): `compact` (VACUUM ANALYZE on FerretDB, harmless on MongoDB) makes the plans
        # the ones a collection filled over time gets.
        client[database].command("compact", settings.mongo_collection)
    indexed = time.monotonic() - started - inserted
    client.close()
    return {
        "sample": sample,
        "insert_s": round(inserted, 1),
        "index_s": round(indexed, 1),
        "load_per_s": per_second(count, inserted),
    }


async def alone(
    calls: dict[str, Call], mix: dict[str, dict[str, Any]], repeats: int, title: str = "each request alone"
) -> dict[str, Samples]:
    """Each request type by itself, ``repeats`` rounds in which every side in ``calls`` sends it
    once, the side that goes first rotating each round: the sides' figures come from the same
    moments of a noisy machine, so their ratio is the sides' and not the minute's. Each side's
    first request of a kind is reported on its own: it pays what a collection's first request
    of a kind pays once (caches filling; on a collection older than the store's patch, setting
    up its maintained count on the first unfiltered count), not what a request costs."""
    sides = list(calls)
    samples = {side: Samples() for side in sides}
    attempts = repeats + 1 if repeats else 0
    label = f"{title}: {repeats} rounds of {', '.join(sides)} in turn"
    with progress(label, total=len(mix) * attempts) as advance:
        for kind, params in mix.items():
            for attempt in range(attempts):
                for side in rotated(sides, attempt):
                    started = time.perf_counter()
                    if not await calls[side](params):
                        samples[side].errors[kind] += 1
                    elapsed = time.perf_counter() - started
                    if attempt == 0:
                        samples[side].first[kind] = elapsed
                    else:
                        samples[side].latencies[kind].append(elapsed)
                advance(1)
    return samples


async def concurrently(call: Call, mix: dict[str, dict[str, Any]], clients: int, duration: float) -> Samples:
    samples = Samples()
    order = itertools.cycle(list(mix))
    deadline = time.monotonic() + duration

    async def client_loop() -> None:
        while time.monotonic() < deadline:
            kind = next(order)
            started = time.perf_counter()
            if not await call(mix[kind]):
                samples.errors[kind] += 1
            samples.latencies[kind].append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    samples.seconds = time.monotonic() - started
    return samples


@asynccontextmanager
async def api_client(url: str, key: str, clients: int = 1) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:
        yield client


def api_call(client: httpx.AsyncClient) -> Call:
    async def call(params: dict[str, Any]) -> bool:
        return (await client.get("/audit_events", params=params)).status_code == 200

    return call


def floor_call(client: httpx.AsyncClient) -> Call:
    """``GET /health``, whatever the request: what any request through the API costs."""

    async def call(params: dict[str, Any]) -> bool:
        return (await client.get("/health")).status_code == 200

    return call


@asynccontextmanager
async def direct_store(settings: Settings, clients: int = 1) -> AsyncIterator[Call]:
    """The API's own store work (:class:`AuditStore`), without HTTP."""
    store = AuditStore(settings.model_copy(update={"api_max_concurrent_queries": clients}))

    async def call(params: dict[str, Any]) -> bool:
        query = parse_query([(name, str(value)) for name, value in params.items()], settings.api_max_per_page)
        try:
            await store.page(query)
        except StoreUnavailableError:
            return False
        return True

    try:
        yield call
    finally:
        await store.close()


async def side_by_side(
    url: str, key: str, settings: Settings, mix: dict[str, dict[str, Any]], repeats: int, title: str
) -> dict[str, Samples]:
    """The alone phase: through the API, straight on the store, and the API's floor —
    ``GET /health`` through the same client: HTTP, the framework and the request's log line,
    no key and no store — in turn."""
    async with api_client(url, key) as client, direct_store(settings) as direct:
        return await alone(
            {"api": api_call(client), "direct": direct, "floor": floor_call(client)}, mix, repeats, title
        )


async def through_api(
    url: str, key: str, mix: dict[str, dict[str, Any]], clients: int, duration: float
) -> Samples:
    """``clients`` concurrent clients through the API for ``duration`` seconds."""
    async with api_client(url, key, clients) as client:
        return await concurrently(api_call(client), mix, clients, duration)


async def through_store(
    settings: Settings, mix: dict[str, dict[str, Any]], clients: int, duration: float
) -> Samples:
    """The same straight on the store."""
    async with direct_store(settings, clients) as call:
        return await concurrently(call, mix, clients, duration)


def run(
    settings: Settings,
    sizes: list[int],
    concurrency: int,
    duration: float,
    repeats: int,
    order: LoadOrder = "arrival",
) -> BenchResult:
    result = BenchResult(
        "query",
        {
            "sizes": sizes,
            "concurrency": concurrency,
            "duration_s": duration,
            "alone_repeats": repeats,
            "api_workers": settings.api_workers,
            "query_timeout_ms": settings.mongo_query_timeout_ms,
            "load": "insert_many of pipeline-shaped documents, then the query indexes",
            "load_order": order,
        },
    )
    for size in sizes:
        result.figures[str(size)] = _one_size(
            settings, size, concurrency, duration, repeats, result.started, order
        )
    _report(result)
    return result


def _one_size(
    settings: Settings,
    size: int,
    concurrency: int,
    duration: float,
    repeats: int,
    started: str,
    order: LoadOrder,
) -> dict[str, Any]:
    database = f"bench_query_{uuid.uuid4().hex[:8]}"
    scoped = api_settings(settings, database, API_PORT)
    loaded = load(settings, database, size, users=max(50, size // 20), order=order)
    api = IsolatedPipeline(scoped, f"q{size}", RESULTS_DIR / "work" / f"query-{started}-{size}")
    api.settings = scoped
    try:
        process = api.start("api")
        wait_for(lambda: http_ok(f"{scoped.api_url}/health"), 60, "authtrail serve")
        key = create_key(scoped, None, "benchmark").secret_key
        mix = request_mix(loaded["sample"])
        histograms = await_histograms(scoped, mix)
        memory = PeakRss(process.pid)
        alone_samples = asyncio.run(
            side_by_side(scoped.api_url, key, scoped, mix, repeats, f"N={size:,}: each request alone")
        )
        with step(f"N={size:,}: {concurrency} clients through the API"):
            api_mix = asyncio.run(through_api(scoped.api_url, key, mix, concurrency, duration))
        api_rss = memory.stop()
        with step(f"N={size:,}: {concurrency} clients straight on the store"):
            direct_mix = asyncio.run(through_store(scoped, mix, concurrency, duration))
        # Two fresh API processes alike but for counting (a process that served the phases
        # above has more to collect per request: its age would weigh on one side only).
        pair: dict[str, tuple[str, int]] = {}
        for offset, side in ((1, "counted"), (2, "uncounted")):
            started_api = api.start(
                "api",
                name=f"api-{side}",
                api_port=API_PORT + offset,
                metrics_enabled=side == "counted",
            )
            url = scoped.model_copy(update={"api_port": API_PORT + offset}).api_url
            wait_for(partial(http_ok, f"{url}/health"), 60, f"authtrail serve ({side})")
            pair[side] = (url, started_api.pid)
        with step(f"N={size:,}: {concurrency} clients, API with metrics counted vs switched off"):
            overhead = counting_overhead(pair, key, mix, concurrency, duration)
    finally:
        api.close()
        cleanup: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
        with cleanup:
            cleanup.drop_database(database)
    api_alone, direct_alone, floor = (alone_samples[side] for side in ("api", "direct", "floor"))
    per_type = {}
    for kind in mix:
        one_api, one_direct = (
            percentiles_ms(api_alone.latencies[kind]),
            percentiles_ms(direct_alone.latencies[kind]),
        )
        many_api, many_direct = (
            percentiles_ms(api_mix.latencies[kind]),
            percentiles_ms(direct_mix.latencies[kind]),
        )
        per_type[kind] = {
            "alone": {
                "api": one_api,
                "direct": one_direct,
                "api_first_ms": round(api_alone.first.get(kind, 0.0) * 1000, 1),
                "direct_first_ms": round(direct_alone.first.get(kind, 0.0) * 1000, 1),
                "api_errors": api_alone.errors[kind],
                "direct_errors": direct_alone.errors[kind],
                "api_over_direct_p50": ratio(one_api["p50"], one_direct["p50"]),
                "api_over_direct_p99": ratio(one_api["p99"], one_direct["p99"]),
                "api_minus_direct_p50_ms": round(one_api["p50"] - one_direct["p50"], 1),
            },
            "mix": {
                "api": {
                    **many_api,
                    "per_s": per_second(many_api["count"], api_mix.seconds),
                    "errors": api_mix.errors[kind],
                },
                "direct": {
                    **many_direct,
                    "per_s": per_second(many_direct["count"], direct_mix.seconds),
                    "errors": direct_mix.errors[kind],
                },
            },
        }
    return {
        "load": loaded,
        "histogram_set_up_s": histograms,
        "api_peak_rss_mb": api_rss,
        "request_types": per_type,
        # GET /health through the same client, in the same rounds: what any request costs
        "http_floor_ms": percentiles_ms([t for latencies in floor.latencies.values() for t in latencies]),
        "metrics_overhead": overhead,
    }


def counting_overhead(
    apis: dict[str, tuple[str, int]], key: str, mix: dict[str, dict[str, Any]], clients: int, duration: float
) -> dict[str, Any]:
    """The same mix through two API processes on the same data, one counting metrics and one
    not (``apis``: side → (url, pid)), in eight slices of ``duration / 4`` one after the other:
    ABBA twice, so a drift of the machine weighs on both alike.

    Throughput under 50 clients is bounded by the store, and slice-to-slice it varies by ±10 %
    here — more than counting could cost. So the figure that decides is the API process's own
    CPU time per request (user + system, from the kernel), the only place counting costs
    anything; the requests/s ratio is reported beside it. (Both APIs loaded at once, request
    by request, was tried and rejected: the two processes' competition for 2 cores made one
    3–5× slower than the other, whichever it was, counting or not.)"""
    for url, _ in apis.values():  # the same warm-up each: imports, connections, caches
        asyncio.run(through_api(url, key, mix, clients, duration / 10))
    done = dict.fromkeys(apis, 0)
    seconds = dict.fromkeys(apis, 0.0)
    cpu_s = dict.fromkeys(apis, 0.0)
    errors = dict.fromkeys(apis, 0)
    latencies: dict[str, list[float]] = {side: [] for side in apis}
    slices: list[tuple[str, float]] = []
    for side in ("counted", "uncounted", "uncounted", "counted") * 2:
        url, pid = apis[side]
        process = psutil.Process(pid)
        before = sum(process.cpu_times()[:2])
        many = asyncio.run(through_api(url, key, mix, clients, duration / 4))
        cpu_s[side] += sum(process.cpu_times()[:2]) - before
        answered = [x for kind in many.latencies.values() for x in kind]
        latencies[side] += answered
        done[side] += len(answered)
        seconds[side] += many.seconds
        errors[side] += sum(many.errors.values())
        slices.append((side, per_second(len(answered), many.seconds)))
    figures: dict[str, Any] = {
        side: {
            **percentiles_ms(latencies[side]),
            "per_s": per_second(done[side], seconds[side]),
            "api_cpu_ms_per_request": round(1000 * cpu_s[side] / done[side], 3) if done[side] else None,
            "errors": errors[side],
        }
        for side in apis
    }
    figures["slices_per_s"] = slices
    counted, uncounted = figures["counted"], figures["uncounted"]
    for figure in ("api_cpu_ms_per_request", "per_s", "p50", "p99"):
        figures[f"{figure}_ratio"] = (
            round(counted[figure] / uncounted[figure], 3) if counted[figure] and uncounted[figure] else None
        )
    return figures


def _report(result: BenchResult) -> None:
    sizes = [str(s) for s in result.parameters["sizes"]]
    for size in sizes:
        figures = result.figures[size]
        kinds = figures["request_types"]
        floor = figures["http_floor_ms"]
        for kind, seconds in figures.get("histogram_set_up_s", {}).items():
            print(f"N={int(size):,}: the store's histogram for '{kind}' was ready after {seconds} s")
        print_table(
            f"N={int(size):,}: each request alone, API and direct in turn (ms; 'first' untimed "
            f"before them; the API's floor, GET /health: p50 {floor['p50']}, p99 {floor['p99']})",
            [
                *("request", "API first", "API p50", "API p95", "API p99", "direct p50"),
                *("direct p99", "API/direct p50", "p99", "API-direct p50", "errors"),
            ],
            [
                [
                    k,
                    t["alone"]["api_first_ms"],
                    t["alone"]["api"]["p50"],
                    t["alone"]["api"]["p95"],
                    t["alone"]["api"]["p99"],
                    t["alone"]["direct"]["p50"],
                    t["alone"]["direct"]["p99"],
                    t["alone"]["api_over_direct_p50"] or "-",
                    t["alone"]["api_over_direct_p99"] or "-",
                    t["alone"]["api_minus_direct_p50_ms"],
                    t["alone"]["api_errors"],
                ]
                for k, t in kinds.items()
            ],
        )
        print_table(
            f"N={int(size):,}: {result.parameters['concurrency']} clients, mixed (API peak RSS "
            f"{figures['api_peak_rss_mb']} MB)",
            ["request", "req/s", "p50", "p95", "p99", "errors", "direct p50", "direct errors"],
            [
                [
                    k,
                    t["mix"]["api"]["per_s"],
                    t["mix"]["api"]["p50"],
                    t["mix"]["api"]["p95"],
                    t["mix"]["api"]["p99"],
                    t["mix"]["api"]["errors"],
                    t["mix"]["direct"]["p50"],
                    t["mix"]["direct"]["errors"],
                ]
                for k, t in kinds.items()
            ],
        )
    print_table(
        f"{result.parameters['concurrency']} clients, API with metrics counted vs switched off "
        "(same run, ABBA slices)",
        ["N", "API CPU ms/request", "uncounted", "ratio", "req/s", "uncounted", "ratio", "errors"],
        [
            [
                f"{int(size):,}",
                o["counted"]["api_cpu_ms_per_request"],
                o["uncounted"]["api_cpu_ms_per_request"],
                o["api_cpu_ms_per_request_ratio"],
                o["counted"]["per_s"],
                o["uncounted"]["per_s"],
                o["per_s_ratio"],
                o["counted"]["errors"] + o["uncounted"]["errors"],
            ]
            for size in sizes
            for o in [result.figures[size]["metrics_overhead"]]
        ],
    )
    kinds = list(result.figures[sizes[-1]]["request_types"])
    last = result.figures[sizes[-1]]["request_types"]
    charts.grouped_bars(
        result.path("png"),
        f"latency per request type, alone and under load (N={int(sizes[-1]):,})",
        kinds,
        {
            "API alone p50": [last[k]["alone"]["api"]["p50"] for k in kinds],
            "direct alone p50": [last[k]["alone"]["direct"]["p50"] for k in kinds],
            "API mixed p99": [last[k]["mix"]["api"]["p99"] for k in kinds],
            "direct mixed p99": [last[k]["mix"]["direct"]["p99"] for k in kinds],
        },
        "milliseconds (log)",
        log=True,
    )
    if len(sizes) > 1:
        charts.lines(
            result.path("scaling.png"),
            "each request alone through the API: p50 by collection size",
            [int(s) for s in sizes],
            {k: [result.figures[s]["request_types"][k]["alone"]["api"]["p50"] for s in sizes] for k in kinds},
            "documents",
            "p50 ms",
        )
    result.save()
