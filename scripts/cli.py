"""``authtrail``: the one command line of the project.

Each sub-command lives in its own module under ``scripts/``; this module only wires them
together and turns authtrail's own errors into a one-line message and exit status 1.
"""

from __future__ import annotations

import sys

import typer

from authtrail.errors import AuthtrailError
from scripts import dlq, emit, export, keys, pipeline_cli, poke, specs, system, top, verify
from scripts.bench import cli as bench_cli
from scripts.console import console
from scripts.stack import cli as stack_cli

app = typer.Typer(
    name="authtrail",
    help="Audit log for the bug tracker: local stack, pipeline, query API, tools and benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(system.up)
app.command("down")(system.down)
app.add_typer(stack_cli.app, name="stack")
app.add_typer(bench_cli.app, name="bench")
app.add_typer(dlq.app, name="dlq")
app.add_typer(keys.app, name="keys")

app.command("create-topics")(pipeline_cli.create_topics)
app.command("register-schemas")(pipeline_cli.register_schemas)
app.command("deploy-connectors")(pipeline_cli.deploy_connectors)
app.command("consume")(pipeline_cli.consume)
app.command("sink-watch")(pipeline_cli.sink_watch)
app.command("seal")(pipeline_cli.seal)
app.command("serve")(pipeline_cli.serve)
app.command("poke")(poke.poke)
app.command("top")(top.top)
app.command("alive")(pipeline_cli.alive)

app.command("emit-sample")(emit.emit_sample)
app.command("emit-load")(emit.emit_load)
app.command("export")(export.export)
app.command("verify")(verify.verify)
app.command(
    "specs",
    help="Run the test suite (ruff, mypy, pytest); extra arguments go to pytest.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(specs.run)


def main() -> None:
    try:
        app()
    except AuthtrailError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        sys.exit(1)
