"""``authtrail emit-sample`` and ``authtrail emit-load``: realistic events into the raw topic."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from authtrail.emitter import DeliveryCounts, EventEmitter
from authtrail.logs import configure_logging
from authtrail.sample_events import MAX_USER_ID, EventFactory
from authtrail.settings import get_settings
from authtrail.token_bucket import TokenBucket
from scripts.console import console


def emit_sample(
    count: Annotated[int, typer.Argument(min=1, help="How many events.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Make the events reproducible.")] = None,
) -> None:
    """Emit COUNT sample audit events (default 1)."""
    _run(count=count, rate=None, duration=None, seed=seed, users=MAX_USER_ID)


def emit_load(
    rate: Annotated[float, typer.Option(min=0.1, help="Events per second to hold.")] = 1000.0,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Seconds to run.")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Events to send (instead of --duration).")] = None,
    seed: Annotated[int | None, typer.Option(help="Make the events reproducible.")] = None,
    users: Annotated[int, typer.Option(min=1, help="Size of the user pool.")] = MAX_USER_ID,
) -> None:
    """Emit events at a steady rate (token bucket) for a duration or a count, with progress."""
    if (duration is None) == (count is None):
        raise typer.BadParameter("give exactly one of --duration or --count")
    _run(count=count, rate=rate, duration=duration, seed=seed, users=users)


def _run(count: int | None, rate: float | None, duration: float | None, seed: int | None, users: int) -> None:
    settings = get_settings()
    configure_logging(settings, "emit", console_level="WARNING")
    factory = EventFactory(seed=seed, users=users)
    emitter = EventEmitter(settings)
    bucket = TokenBucket(rate) if rate else None
    total = count if count is not None else int((duration or 0) * (rate or 0)) or None
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]emitting"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=total)
        last_update = 0.0
        while True:
            now = time.monotonic()
            if (count is not None and emitter.counts.sent >= count) or (
                duration is not None and now - started >= duration
            ):
                break
            if bucket:
                bucket.take()
            emitter.send(factory.event())
            if now - last_update > 0.2:
                last_update = now
                progress.update(
                    task, completed=emitter.counts.sent, description=_describe(emitter.counts, now - started)
                )
        emitter.flush(60)
        elapsed = time.monotonic() - started
        progress.update(task, completed=emitter.counts.sent, description=_describe(emitter.counts, elapsed))
    emitter.close()
    _summary(emitter.counts, elapsed)
    if emitter.counts.failed or emitter.counts.acked != emitter.counts.sent:
        raise typer.Exit(1)


def _describe(counts: DeliveryCounts, elapsed: float) -> str:
    return (
        f"sent {counts.sent:,}  acked {counts.acked:,}  failed {counts.failed:,}  "
        f"{counts.sent / max(elapsed, 1e-9):,.0f}/s"
    )


def _summary(counts: DeliveryCounts, elapsed: float) -> None:
    table = Table("sent", "acked", "failed", "seconds", "achieved rate (acked/s)", title="emit summary")
    table.add_row(
        f"{counts.sent:,}",
        f"{counts.acked:,}",
        f"{counts.failed:,}",
        f"{elapsed:.1f}",
        f"{counts.acked / max(elapsed, 1e-9):,.0f}",
    )
    console.print(table)
    if counts.errors:
        console.print(f"[red]delivery errors:[/] {counts.errors}")
