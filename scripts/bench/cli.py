"""``authtrail bench <scenario>``: measurements, never tests. Each prints a table and writes
JSON (+ a PNG chart where a picture helps) under bench-results/."""

from __future__ import annotations

from typing import Annotated

import typer

from authtrail.logs import configure_logging
from authtrail.settings import Settings, get_settings
from scripts.stack.control import LocalStack

app = typer.Typer(help="Benchmarks on the local stack (starts it if needed).", no_args_is_help=True)


def _ready() -> Settings:
    settings = get_settings()
    configure_logging(settings, "bench", console_level="WARNING")
    LocalStack(settings).up()
    return settings


@app.command("sink-format")
def sink_format(count: Annotated[int, typer.Option(min=1000, help="Documents per format.")] = 50_000) -> None:
    """Sink throughput of the same documents as BSON, Extended JSON and JSON-with-schema."""
    from scripts.bench import sink_format as scenario

    scenario.run(_ready(), count)
