"""``authtrail bench readme``: the README's promise after ten minutes of ``make run``.

The system as ``make run`` leaves it (``authtrail up``: stack, pipeline, API, the development
operator key), then exactly ``authtrail emit-load --rate R --duration D`` (its own process and
progress bar), then, once the pipeline has caught up (lag read from the broker), each
``curl`` example of the README's Quick start — read from README.md, so the bench times what a
newcomer types — sent ``--repeats`` times, interleaved, with the same key: p50/p99/max and the
``total_count`` each answered. The target (issue 12): each under 100 ms after 600,000 events.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

import httpx

from authtrail.kafka.offsets import consumer_lag
from authtrail.key_store import dev_key_file
from authtrail.settings import PROJECT_ROOT, Settings
from authtrail.waiting import wait_until
from scripts.bench import charts
from scripts.bench.results import BenchResult, print_table
from scripts.bench.stats import percentiles_ms
from scripts.console import step
from scripts.system import up

README_REQUEST = re.compile(r"""^curl -H "Authorization: Bearer \$KEY" '(http://[^']+)'""", re.MULTILINE)
DRAIN_TIMEOUT_S = 600.0


def readme_requests() -> list[str]:
    """The Quick start's curl URLs, in README order."""
    return README_REQUEST.findall((PROJECT_ROOT / "README.md").read_text())


def run(settings: Settings, rate: float, duration: float, repeats: int) -> BenchResult:
    result = BenchResult("readme", {"rate_per_s": rate, "duration_s": duration, "repeats": repeats})
    up(sample=0)
    subprocess.run(
        [sys.executable, "-m", "scripts", "emit-load", "--rate", str(rate), "--duration", str(duration)],
        check=True,
    )
    with step("waiting until the pipeline has caught up"):
        wait_until(lambda: _caught_up(settings), DRAIN_TIMEOUT_S, 1.0)
    key = dev_key_file(settings).read_text().strip()
    urls = readme_requests()
    timings: dict[str, list[float]] = {url: [] for url in urls}
    counts: dict[str, Any] = {}
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for url in urls:  # one untimed request each: connections and the API's key cache
            client.get(url).raise_for_status()
        with step(f"timing the README's {len(urls)} requests, {repeats} times each"):
            for _ in range(repeats):
                for url in urls:
                    started = time.perf_counter()
                    response = client.get(url)
                    timings[url].append(time.perf_counter() - started)
                    response.raise_for_status()
                    counts[url] = response.json()["meta"]["total_count"]
    rows = []
    for url, seconds in timings.items():
        figures = percentiles_ms(seconds)
        result.figures[url] = {**figures, "total_count": counts[url]}
        rows.append([url.split("/", 3)[3], counts[url], figures["p50"], figures["p99"], figures["max"]])
    print_table(
        f"the README's requests after {rate * duration:,.0f} events",
        ["request", "total_count", "p50 ms", "p99 ms", "max ms"],
        rows,
    )
    charts.grouped_bars(
        result.path("png"),
        f"README requests after {rate * duration:,.0f} events (ms)",
        [row[0][:48] for row in rows],
        {name: [result.figures[url][name] for url in urls] for name in ("p50", "p99", "max")},
        "ms",
    )
    result.save()
    return result


def _caught_up(settings: Settings) -> bool:
    return (
        consumer_lag(settings, settings.transformer_group, settings.raw_topic) == 0
        and consumer_lag(settings, f"connect-{settings.connector_name}", settings.sink_topic) == 0
    )
