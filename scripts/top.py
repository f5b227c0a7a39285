"""``authtrail top``: a live view of the running system — rates, lags, dead letters by reason,
API latency, Kafka Connect's sink tasks and the broker — read from the services' metrics
endpoints and the Kafka JVMs' JMX exporter agents every couple of seconds (the local stack runs
no Prometheus). Rates and latency quantiles are over the interval between two
scrapes; a service that does not answer shows as DOWN, and the rest keep updating."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from authtrail.logs import configure_logging
from authtrail.settings import get_settings
from scripts.console import console
from scripts.scrape import Samples, endpoints, jmx_endpoints, quantile, rate, scrape


@dataclass
class TopView:
    """The previous and the latest scrape of every endpoint, rendered as tables."""

    urls: dict[str, str]
    latest: dict[str, Samples] = field(default_factory=dict)
    previous: dict[str, Samples] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def refresh(self) -> RenderableType:
        for service, url in self.urls.items():
            try:
                samples = scrape(url)
            except httpx.HTTPError as exc:
                self.errors[service] = type(exc).__name__
                self.latest.pop(service, None)
                self.previous.pop(service, None)
                continue
            self.errors.pop(service, None)
            if service in self.latest:
                self.previous[service] = self.latest[service]
            self.latest[service] = samples
        return self.render()

    def render(self) -> RenderableType:
        return Group(
            Text(f"authtrail top — every endpoint scraped at {time.strftime('%H:%M:%S')}", style="bold"),
            self._services(),
            self._dead_letters(),
            self._routes(),
        )

    # --- one row per service ---------------------------------------------------------------
    def _services(self) -> Table:
        table = Table("service", "state", "throughput", "lag (records)", "details", expand=True)
        rows = {
            "transformer": self._transformer,
            "sink-watch": self._sink_watch,
            "sealer": self._sealer,
            "api": self._api,
            "connect": self._connect,
            "kafka": self._kafka,
        }
        for service in self.urls:
            now = self.latest.get(service)
            if now is None:
                error = self.errors.get(service, "no answer")
                table.add_row(service, Text("DOWN", style="bold red"), error, "", self.urls[service])
                continue
            table.add_row(service, *rows[service](now, self.previous.get(service)))
        return table

    def _transformer(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "authtrail_transformer_"
        throughput = (
            f"consumed {per_s(rate(now, before, p + 'records_consumed_total'))}, "
            f"forwarded {per_s(rate(now, before, p + 'records_forwarded_total'))}, "
            f"dead-lettered {per_s(rate(now, before, p + 'records_dead_lettered_total'))}"
        )
        details = (
            f"batch p99 {ms(quantile(0.99, now, before, p + 'batch_duration_seconds'))}; "
            f"rewinds {now.sum(p + 'batch_rewinds_total'):.0f}; "
            f"delivery failures {now.sum(p + 'delivery_failures_total'):.0f}"
        )
        return Text("up", style="green"), throughput, lag(now, p + "consumer_lag_records"), details

    def _sink_watch(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "authtrail_sink_watch_"
        failed = now.sum(p + "failed_tasks")
        running = now.sum(p + "connector_running") == 1
        state = Text(
            "connector RUNNING" if running else f"connector NOT RUNNING ({failed:.0f} failed tasks)",
            style="green" if running else "bold red",
        )
        throughput = f"sink dead letters {per_s(rate(now, before, p + 'sink_dlq_records_total'))}"
        details = (
            f"task restarts {now.sum(p + 'task_restarts_total'):.0f}; "
            f"quarantines {now.sum(p + 'quarantines_total'):.0f}; "
            f"redeliveries {now.value(p + 'sink_dlq_records_total', verdict='already_stored'):.0f}"
        )
        return state, throughput, lag(now, p + "sink_lag_records"), details

    def _sealer(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "authtrail_sealer_"
        last = now.sum(p + "last_checkpoint_timestamp_seconds")
        age = f"{time.time() - last:.0f} s ago" if last else "none yet"
        throughput = f"sealed {per_s(rate(now, before, p + 'events_sealed_total'))}"
        details = (
            f"checkpoints {now.sum(p + 'checkpoints_signed_total'):.0f} (last {age}); "
            f"sealing delay p99 {seconds(quantile(0.99, now, before, p + 'sealing_delay_seconds'))}; "
            f"conflicts {now.sum(p + 'conflicts_total'):.0f}"
        )
        return Text("up", style="green"), throughput, lag(now, p + "consumer_lag_records"), details

    def _api(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "authtrail_api_"
        errors_5xx = sum(
            rate(now, before, p + "requests_total", status=s) or 0.0
            for s in now.by(p + "requests_total", "status")
            if s.startswith("5")
        )
        throughput = f"requests {per_s(rate(now, before, p + 'requests_total'))}, 5xx {errors_5xx:.1f}/s"
        details = (
            f"p50 {ms(quantile(0.5, now, before, p + 'request_duration_seconds'))}, "
            f"p99 {ms(quantile(0.99, now, before, p + 'request_duration_seconds'))}; "
            f"store p99 {ms(quantile(0.99, now, before, p + 'store_query_duration_seconds'))}; "
            f"429 {per_s(rate(now, before, p + 'rate_limited_total'))}; "
            f"auth failures {per_s(rate(now, before, p + 'auth_failures_total'))}"
        )
        state = Text("up", style="green" if errors_5xx == 0 else "bold yellow")
        return state, throughput, "", details

    # --- the JVMs, through the JMX exporter agents (scripts/stack/jmx/) --------------------------------
    def _connect(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "kafka_connect_"
        states = now.by(p + "task_status", "state")
        failed = states.get("failed", 0.0)
        state = Text(
            ", ".join(f"{n:.0f} {s}" for s, n in sorted(states.items())) or "no tasks",
            style="bold red" if failed else "green",
        )
        throughput = f"records put {per_s(rate(now, before, p + 'sink_task_records_sent_total'))}"
        details = (
            f"put batch avg {ms(finite(now, p + 'sink_task_put_batch_avg_time_seconds', max))}, "
            f"max {ms(finite(now, p + 'sink_task_put_batch_max_time_seconds', max))}; "
            f"record errors {now.sum(p + 'task_record_errors_total'):.0f}; "
            f"to its DLQ {now.sum(p + 'task_dead_letter_queue_produce_requests_total'):.0f}"
        )
        lag_total = finite(now, p + "sink_consumer_lag_records", sum)
        return state, throughput, "—" if lag_total is None else f"{lag_total:,.0f}", details

    def _kafka(self, now: Samples, before: Samples | None) -> tuple[RenderableType, ...]:
        p = "kafka_server_"
        under_replicated = now.sum(p + "under_replicated_partitions")
        offline = now.sum("kafka_controller_offline_partitions")
        state = Text("up", style="bold yellow" if under_replicated or offline else "green")
        throughput = (
            f"messages in {per_s(rate(now, before, p + 'messages_in_total'))}, "
            f"failed produces {per_s(rate(now, before, p + 'failed_produce_requests_total'))}"
        )
        p99 = "kafka_network_request_time_p99_seconds"
        details = (
            f"produce p99 {ms(finite(now, p99, max, request='Produce'))}; "
            f"under-replicated {under_replicated:.0f}; offline {offline:.0f}"
        )
        return state, throughput, "", details

    # --- dead letters and routes ---------------------------------------------------------------
    def _dead_letters(self) -> Table:
        table = Table("dead letters by reason", "total", "per second", "from", expand=True)
        for service, metric in (
            ("transformer", "authtrail_transformer_records_dead_lettered_total"),
            ("sink-watch", "authtrail_sink_watch_records_dead_lettered_total"),
        ):
            now = self.latest.get(service)
            if now is None:
                continue
            before = self.previous.get(service)
            for reason, total in sorted(now.by(metric, "reason").items(), key=lambda kv: -kv[1]):
                table.add_row(
                    reason, f"{total:,.0f}", per_s(rate(now, before, metric, reason=reason)), service
                )
        if not table.row_count:
            table.add_row("none", "", "", "")
        return table

    def _routes(self) -> Table:
        table = Table("API route", "requests/s", "p50", "p99", "errors (≥400)/s", expand=True)
        now, before = self.latest.get("api"), self.previous.get("api")
        if now is None:
            return table
        name, histogram = "authtrail_api_requests_total", "authtrail_api_request_duration_seconds"
        routes = sorted(now.by(name, "route").items(), key=lambda kv: -kv[1])
        for route, _ in routes[:8]:
            failing = sum(
                rate(now, before, name, route=route, status=s) or 0.0
                for s in now.by(name, "status", route=route)
                if s >= "400"
            )
            table.add_row(
                route,
                per_s(rate(now, before, name, route=route)),
                ms(quantile(0.5, now, before, histogram, route=route)),
                ms(quantile(0.99, now, before, histogram, route=route)),
                f"{failing:.1f}",
            )
        return table


def lag(now: Samples, gauge: str) -> str:
    per_partition = now.by(gauge, "partition")
    if not per_partition:
        return "—"
    total = sum(per_partition.values())
    worst = max(per_partition.items(), key=lambda kv: kv[1])
    return f"{total:,.0f}" + (f" (p{worst[0]}: {worst[1]:,.0f})" if total else "")


def finite(now: Samples, name: str, combine: Callable[[list[float]], float], **labels: str) -> float | None:
    """``combine`` (max, sum) of the samples of ``name`` that carry a number: Kafka's windowed
    metrics read NaN while nothing happened in their window. None when none does."""
    wanted = set(labels.items())
    values = [v for have, v in now.values.get(name, {}).items() if wanted <= have and math.isfinite(v)]
    return combine(values) if values else None


def per_s(value: float | None) -> str:
    return "…" if value is None else f"{value:,.1f}/s"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.1f} ms"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def top(
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between scrapes.")] = 2.0,
    once: Annotated[
        bool, typer.Option("--once", help="Print one view (two scrapes an interval apart) and exit.")
    ] = False,
) -> None:
    """Live view of the running system from its /metrics: rates, lags, DLQ by reason, API latency."""
    settings = get_settings()
    configure_logging(settings, "top", console_level="WARNING")
    view = TopView({**endpoints(settings), **jmx_endpoints(settings)})
    view.refresh()
    if once:
        time.sleep(interval)
        console.print(view.refresh())
        return
    try:
        with Live(view.render(), console=console, auto_refresh=False, screen=console.is_terminal) as live:
            while True:
                time.sleep(interval)
                live.update(view.refresh(), refresh=True)
    except KeyboardInterrupt:
        pass
