"""``authtrail specs``: the whole test suite — lint, types, then pytest against the real stack."""

from __future__ import annotations

import subprocess
import sys

import typer

from authtrail.settings import PROJECT_ROOT

CHECKS: list[tuple[str, list[str]]] = [
    ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
    ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", "."]),
    ("mypy", [sys.executable, "-m", "mypy", "authtrail", "connect", "query_service", "scripts", "tests"]),
]


def run(ctx: typer.Context) -> None:
    """Run ruff, mypy and pytest; the first failure ends the run with its exit status."""
    for name, argv in CHECKS:
        typer.echo(f"== {name}")
        if (code := subprocess.run(argv, cwd=PROJECT_ROOT, check=False).returncode) != 0:
            raise typer.Exit(code)
    typer.echo("== pytest")
    code = subprocess.run(
        [sys.executable, "-m", "pytest", *ctx.args], cwd=PROJECT_ROOT, check=False
    ).returncode
    # pytest exits 5 when it collected nothing: a suite that ran no test did not pass.
    raise typer.Exit(code)
