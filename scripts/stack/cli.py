"""``authtrail stack …``: run the local stack of real servers."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from rich.table import Table

from authtrail.logs import configure_logging
from authtrail.settings import get_settings
from scripts.console import console
from scripts.stack.control import LocalStack, ServerStatus

app = typer.Typer(
    help="The local stack: Kafka, Kafka Connect, Schema Registry (+ PostgreSQL), FerretDB.",
    no_args_is_help=True,
)


def _stack() -> LocalStack:
    settings = get_settings()
    configure_logging(settings, "stack", console_level="WARNING")
    return LocalStack(settings)


@app.command()
def up() -> None:
    """Fetch (once), start and wait for every server; harmless when already running."""
    rows = _stack().up()
    print_status(rows)


@app.command()
def down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the stack's data and logs.")] = False,
) -> None:
    """Stop the servers this stack started; data stays unless --purge."""
    stopped = _stack().down(purge=purge)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if purge:
        console.print("data purged")


@app.command()
def status() -> None:
    """Each server's PID, port, health and memory."""
    rows = _stack().status()
    print_status(rows)
    if any(row.state != "ready" for row in rows):
        raise typer.Exit(3)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="postgres, kafka, store, registry or connect")],
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines.")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep following.")] = False,
) -> None:
    """Tail one server's log."""
    path = _stack().log_path(name)
    subprocess.run(["tail", f"-n{lines}", *(["-F"] if follow else []), path], check=False)


def print_status(rows: list[ServerStatus]) -> None:
    table = Table(title="authtrail local stack")
    for column in ("server", "version", "pid", "port", "state", "rss MB", "log"):
        table.add_column(column)
    for row in rows:
        color = {"ready": "green", "stopped": "red"}.get(row.state, "yellow")
        table.add_row(
            row.name,
            row.version,
            str(row.pid or "-"),
            str(row.port),
            f"[{color}]{row.state}[/]",
            f"{row.rss_mb:.0f}",
            row.log,
        )
    console.print(table)
