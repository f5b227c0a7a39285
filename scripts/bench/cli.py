"""``authtrail bench <scenario>``: measurements, never tests. Each prints a table and writes
JSON (+ a PNG chart where a picture helps) under bench-results/."""

from __future__ import annotations

import importlib.util
import signal
from typing import Annotated, Literal

import typer

from authtrail.errors import AuthtrailError
from authtrail.logs import configure_logging
from authtrail.settings import Settings, get_settings
from scripts.stack.control import LocalStack

app = typer.Typer(help="Benchmarks on the local stack (starts it if needed).", no_args_is_help=True)


class BenchExtraMissingError(AuthtrailError):
    """The benchmarks' own dependencies (charts, profiler) are an optional extra."""


def _ready() -> Settings:
    missing = [name for name in ("matplotlib",) if importlib.util.find_spec(name) is None]
    if missing:
        raise BenchExtraMissingError(
            f"authtrail bench needs the 'bench' extra ({', '.join(missing)} is not installed): "
            "pip install -e '.[bench]'  (make run and make test install it)"
        )
    settings = get_settings()
    configure_logging(settings, "bench", console_level="WARNING")
    # A bench's pipeline services run in sessions of their own; SIGTERM (a timeout, kill) must
    # unwind through its cleanup and stop them, not leave them loading the next run's store.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    LocalStack(settings).up()
    return settings


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def sustained(
    rate: Annotated[float, typer.Option(min=1, help="Events per second.")] = 1000.0,
    duration: Annotated[float, typer.Option(min=5, help="Seconds of load.")] = 60.0,
) -> None:
    """The seed's load test: sent/acked/stored, lag over time, produce→queryable latency."""
    from scripts.bench import sustained as scenario

    scenario.run(_ready(), rate, duration)


@app.command("max-throughput")
def max_throughput(
    events: Annotated[int, typer.Option(min=10_000, help="Events to push through.")] = 1_000_000,
    profile: Annotated[
        float, typer.Option(min=0, help="Seconds of py-spy sampling of the transformer.")
    ] = 15.0,
) -> None:
    """End to end as fast as possible, and each stage against its own ceiling, in one run."""
    from scripts.bench import throughput as scenario

    scenario.run(_ready(), events, profile)


@app.command()
def query(
    sizes: Annotated[
        str, typer.Option(help="Comma-separated collection sizes, e.g. 10000,100000,1000000.")
    ] = "100000",
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 50,
    duration: Annotated[float, typer.Option(min=5, help="Seconds of the concurrent mix, per side.")] = 30.0,
    repeats: Annotated[
        int, typer.Option(min=1, help="Rounds of each request type alone (API, direct, floor in turn).")
    ] = 100,
    order: Annotated[
        Literal["arrival", "random"],
        typer.Option(
            help="Documents stored as ingest stores them (arrival: nearly by event time) "
            "or shuffled (random: a time range scattered over the table, the worst case)."
        ),
    ] = "arrival",
) -> None:
    """Each request type alone, then the mix at CONCURRENCY — through the API and straight on the store."""
    from scripts.bench import query as scenario

    scenario.run(_ready(), [int(s) for s in sizes.split(",")], concurrency, duration, repeats, order)


@app.command()
def mixed(
    rate: Annotated[float, typer.Option(min=1, help="Events per second ingested.")] = 1000.0,
    duration: Annotated[float, typer.Option(min=5, help="Seconds.")] = 60.0,
    size: Annotated[int, typer.Option(min=1000, help="Documents preloaded before the run.")] = 100_000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent query clients.")] = 10,
) -> None:
    """Query load while ingest runs: query latency and ingest lag/latency, both reported."""
    from scripts.bench import mixed as scenario

    scenario.run(_ready(), rate, duration, size, concurrency)


@app.command()
def readme(
    rate: Annotated[float, typer.Option(min=1, help="Events per second (emit-load --rate).")] = 1000.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of load (emit-load --duration).")] = 600.0,
    repeats: Annotated[int, typer.Option(min=1, help="Times each README request is sent.")] = 30,
) -> None:
    """After `make run` and ten minutes of emit-load, how fast the README's curl examples answer."""
    from scripts.bench import readme as scenario

    scenario.run(_ready(), rate, duration, repeats)


@app.command("pass-through", hidden=True)
def pass_through() -> None:
    """The transformer's loop forwarding records unchanged (max-throughput's ceiling)."""
    from scripts.bench.passthrough import run_pass_through

    settings = get_settings()
    configure_logging(settings, "pass-through", console_level="WARNING")
    run_pass_through(settings)


@app.command("sink-format")
def sink_format(count: Annotated[int, typer.Option(min=1000, help="Documents per format.")] = 50_000) -> None:
    """Sink throughput of the same documents as BSON, Extended JSON and JSON-with-schema."""
    from scripts.bench import sink_format as scenario

    scenario.run(_ready(), count)


@app.command()
def investigate(
    size: Annotated[int, typer.Option(min=20_000, help="Documents loaded.")] = 1_000_000,
    depth: Annotated[
        int, typer.Option(min=10, max=99_990, help="Events before the deep page (page 10,000 of 10: 99,990).")
    ] = 99_990,
    repeats: Annotated[
        int, typer.Option(min=10, help="Rounds of the two cursor pages (the page-number page: one in ten).")
    ] = 1000,
) -> None:
    """Cursor page at DEPTH next to the first page, and export of every event (rate, API RSS)."""
    from scripts.bench import investigate as scenario

    scenario.run(_ready(), size, depth, repeats)


@app.command()
def integrity(
    parts: Annotated[
        str,
        typer.Option(
            help="Comma-separated parts: A sealing at max ingest, B checkpoint coverage, "
            "C proof latency, D offline verify."
        ),
    ] = "A,B,C,D",
    events: Annotated[int, typer.Option(min=1000, help="A: events produced as fast as possible.")] = 200_000,
    rate: Annotated[float, typer.Option(min=1, help="B: events per second.")] = 1000.0,
    duration: Annotated[float, typer.Option(min=5, help="B: seconds of load at RATE.")] = 60.0,
    interval: Annotated[float, typer.Option(min=1, help="B: checkpoint interval, seconds.")] = 10.0,
    size: Annotated[int, typer.Option(min=1000, help="C, D: events in the log.")] = 1_000_000,
    companies: Annotated[
        int, typer.Option(min=1, max=1000, help="C: companies sharing SIZE (1: one log holds all).")
    ] = 20,
    repeats: Annotated[int, typer.Option(min=10, help="C: requests of each type.")] = 500,
) -> None:
    """Sealing at max ingest, checkpoint coverage delay, proof latency at SIZE, offline verify rate."""
    from scripts.bench import integrity as scenario

    chosen = [part.strip().upper() for part in parts.split(",") if part.strip()]
    if not chosen or not set(chosen) <= set(scenario.PARTS):
        raise typer.BadParameter(f"parts are some of {','.join(scenario.PARTS)}, not {parts!r}")
    options = scenario.Options(events, rate, duration, interval, size, companies, repeats)
    scenario.run(_ready(), list(dict.fromkeys(chosen)), options)
