"""``authtrail bench investigate``: cursor pages at depth next to page 1, and streaming export.

N pipeline-shaped documents are bulk-loaded (as ``bench query`` does), ``authtrail serve``
answers, and one run measures, side by side:

1. **cursor depth**: for each filter, a cursor is walked ``depth`` events deep (10,000 pages of 10
   by default); then the first cursor page, the page at that depth and — for contrast — the
   page-number page at the same depth are requested in turn, ``repeats`` rounds, interleaved so
   that any drift of the machine hits all three alike (the slow page-number page in one round of
   ten). The ratio of p99s (depth / first) is the figure the issue targets (≤ 1.2).
2. **export**: every event, as NDJSON and as CSV, read by a client on the same machine as fast as
   it can: events/s, bytes, and the API process's peak RSS while it streams; then the same keyset
   batches read straight through the API's store code (no rendering, no HTTP): the store's ceiling.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from pymongo import MongoClient

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from query_service.query import NEWEST
from query_service.store import AuditStore
from scripts.bench import charts
from scripts.bench.query import api_settings, load
from scripts.bench.results import RESULTS_DIR, BenchResult, print_table
from scripts.bench.stats import per_second, percentiles_ms, ratio, rotated
from scripts.bench.throughput import PeakRss
from scripts.console import progress
from scripts.stack.isolated_pipeline import IsolatedPipeline

API_PORT = 14998
WALK_PAGE = 1000  # events per request while walking to the depth
FIRST, SECOND, DEEP, PAGE_NUMBER = "first", "second", "deep", "page number"
# The page-number page at depth (~0.7 s at 1M) is the contrast, not the target: one round in ten
# sends it, so a run can afford the rounds a p99 needs (of 100 samples, p99 is one slow request).
CONTRAST_EVERY = 10


def round_order(index: int, contrast_every: int) -> list[str]:
    """The requests of round ``index``, in order: the three cursor pages (first, second, deep),
    rotated one place each round (none always follows another, or the slow contrast), and the
    page-number page at depth last, in one round of ``contrast_every``."""
    cursor_pages = rotated([FIRST, SECOND, DEEP], index)
    return [*cursor_pages, PAGE_NUMBER] if index % contrast_every == 0 else cursor_pages


def filters_to_measure() -> dict[str, dict[str, Any]]:
    """Filters that match far more than the depth (a company holds ~N/1,000 events: too few)."""
    return {
        "no filter": {},
        "event_type list": {"event_type": "login,create"},
        "last 15 days": {"timestamp_from": int(time.time()) - 15 * 86_400},
    }


def run(settings: Settings, size: int, depth: int, repeats: int) -> BenchResult:
    result = BenchResult(
        "investigate",
        {"size": size, "depth_events": depth, "repeats": repeats, "per_page": 10},
    )
    database = f"bench_investigate_{uuid.uuid4().hex[:8]}"
    scoped = api_settings(settings, database, API_PORT)
    loaded = load(settings, database, size, users=max(50, size // 20))
    api = IsolatedPipeline(scoped, "investigate", RESULTS_DIR / "work" / f"investigate-{result.started}")
    api.settings = scoped
    try:
        process = api.start("api")
        wait_for(lambda: http_ok(f"{scoped.api_url}/health"), 60, "authtrail serve")
        key = create_key(scoped, None, "benchmark").secret_key
        with httpx.Client(
            base_url=scoped.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as http:
            result.figures["load"] = loaded
            result.figures["cursor"] = {
                name: _depth_vs_first(http, name, params, depth, repeats)
                for name, params in filters_to_measure().items()
            }
            memory = PeakRss(process.pid)
            result.figures["export"] = {fmt: _export(http, fmt, size) for fmt in ("ndjson", "csv")}
            result.figures["api_peak_rss_mb"] = memory.stop()
        result.figures["export"]["store walk, no API"] = asyncio.run(_store_walk(scoped, size))
    finally:
        api.close()
        with MongoClient[dict[str, Any]](settings.mongo_uri.get_secret_value()) as cleanup:
            cleanup.drop_database(database)
    _report(result)
    result.save()
    return result


def _depth_vs_first(
    http: httpx.Client, name: str, params: dict[str, Any], depth: int, repeats: int
) -> dict[str, Any]:
    cursor, walked = None, 0
    with progress(f"{name}: walking {depth:,} events deep", total=depth) as advance:
        while walked < depth:
            step_size = min(WALK_PAGE, depth - walked)
            where = {"cursor": cursor} if cursor else {"order": "newest"}
            query = {**params, "per_page": step_size, **where}
            meta = _ok(http, query)["meta"]
            if meta["next_cursor"] is None:
                break  # fewer matches than the depth: measure at the deepest full page
            walked += step_size
            advance(step_size)
            cursor = meta["next_cursor"]
    if cursor is None:
        raise ValueError(f"{name}: fewer than {WALK_PAGE} matching events; load more documents")
    labels = {
        FIRST: "cursor, first page",
        SECOND: "cursor, page 2",
        DEEP: f"cursor, {walked:,} deep",
        PAGE_NUMBER: f"page number, {walked:,} deep",
    }
    queries = {
        FIRST: {**params, "order": "newest", "per_page": 10},
        # a keyset page like the deep one, 10 events in: depth alone, without "first vs later"
        SECOND: {
            **params,
            "cursor": _ok(http, {**params, "order": "newest", "per_page": 10})["meta"]["next_cursor"],
            "per_page": 10,
        },
        DEEP: {**params, "cursor": cursor, "per_page": 10},
        PAGE_NUMBER: {**params, "page": walked // 10 + 1, "per_page": 10},
    }
    times: dict[str, list[float]] = {label: [] for label in labels.values()}
    errors = dict.fromkeys(labels.values(), 0)
    with progress(f"{name}: {repeats} rounds", total=repeats) as advance:
        for index in range(repeats):
            for kind in round_order(index, CONTRAST_EVERY):
                label = labels[kind]
                if kind == PAGE_NUMBER and errors[label]:
                    continue  # over the query time limit once (a list's deep window): not again
                started = time.perf_counter()
                status = http.get("/audit_events", params=queries[kind]).status_code
                times[label].append(time.perf_counter() - started)
                errors[label] += status != 200
            advance(1)
    figures = {
        label: {**percentiles_ms(samples), "errors": errors[label]} for label, samples in times.items()
    }
    deep = figures[labels[DEEP]]
    ratios = {
        f"deep_over_{name}_{stat}": ratio(deep[stat], base[stat])
        for name, base in (("first", figures[labels[FIRST]]), ("second", figures[labels[SECOND]]))
        for stat in ("p50", "p99")
    }
    return {"depth": walked, "requests": figures, **ratios}


def _export(http: httpx.Client, fmt: str, size: int) -> dict[str, Any]:
    lines, size_bytes = 0, 0
    started = time.perf_counter()
    with (
        progress(f"export {fmt}", total=size) as advance,
        http.stream("GET", "/audit_events/export", params={"format": fmt}) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            newlines = chunk.count(b"\n")
            lines += newlines
            size_bytes += len(chunk)
            advance(newlines)
    elapsed = time.perf_counter() - started
    events = lines - (1 if fmt == "csv" else 0)  # the CSV header line
    return {
        "events": events,
        "megabytes": round(size_bytes / 1e6, 1),
        "seconds": round(elapsed, 1),
        "events_per_s": per_second(events, elapsed),
    }


async def _store_walk(settings: Settings, size: int) -> dict[str, Any]:
    """The export's reads alone: the same keyset batches through the API's store code, without
    rendering or HTTP — the ceiling the store sets on an export."""
    store = AuditStore(settings)
    batch_size, after, events = settings.api_export_batch_size, None, 0
    started = time.perf_counter()
    try:
        with progress("store walk, no API", total=size) as advance:
            while True:
                batch = await store.walk([{}], NEWEST, after, batch_size)
                events += len(batch)
                advance(len(batch))
                if len(batch) < batch_size:
                    break
                after = NEWEST.next_position(batch, after)
    finally:
        await store.close()
    elapsed = time.perf_counter() - started
    return {
        "events": events,
        "megabytes": 0.0,
        "seconds": round(elapsed, 1),
        "events_per_s": per_second(events, elapsed),
    }


def _ok(http: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    response = http.get("/audit_events", params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _report(result: BenchResult) -> None:
    size = result.parameters["size"]
    rows = []
    for name, figures in result.figures["cursor"].items():
        for label, p in figures["requests"].items():
            rows.append([name, label, p["p50"], p["p95"], p["p99"], p["errors"]])
        for base in ("first", "second"):
            rows.append(
                [
                    name,
                    f"deep / {'first page' if base == 'first' else 'page 2'} (p50, p99)",
                    figures[f"deep_over_{base}_p50"],
                    "",
                    figures[f"deep_over_{base}_p99"],
                    "",
                ]
            )
    print_table(
        f"N={size:,}: cursor pages of 10, alone (ms)",
        ["filter", "request", "p50", "p95", "p99", "errors"],
        rows,
    )
    print_table(
        f"N={size:,}: export of every event (API peak RSS {result.figures['api_peak_rss_mb']} MB)",
        ["format", "events", "MB", "seconds", "events/s"],
        [
            [fmt, e["events"], e["megabytes"], e["seconds"], e["events_per_s"]]
            for fmt, e in result.figures["export"].items()
        ],
    )
    names = list(result.figures["cursor"])
    labels = ["cursor, first page", "cursor, page 2", "cursor, deep", "page number, deep"]
    series: dict[str, list[float]] = {}
    for index, label in enumerate(labels):
        for stat in ("p50", "p99"):
            series[f"{label} {stat}"] = [
                list(result.figures["cursor"][name]["requests"].values())[index][stat] for name in names
            ]
    charts.grouped_bars(
        result.path("png"),
        f"page of 10 at depth vs first page (N={size:,})",
        names,
        series,
        "milliseconds (log)",
        log=True,
    )
