"""Benchmark results: a table on the terminal, JSON (machine, versions, parameters, every
figure) and a PNG chart under ``bench-results/``."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.table import Table

from authtrail.settings import PROJECT_ROOT
from scripts.console import console
from scripts.stack import versions

RESULTS_DIR = PROJECT_ROOT / "bench-results"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = names[0] if names else "unknown"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kafka": versions.kafka_version(),
        "mongo_kafka_connect": versions.mongo_connector_version(),
        "ferretdb": versions.ferretdb_build_version(),
        "schema_registry": f"axonops {versions.REGISTRY_VERSION}",
    }


@dataclass
class BenchResult:
    scenario: str
    parameters: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def path(self, suffix: str) -> Path:
        RESULTS_DIR.mkdir(exist_ok=True)
        return RESULTS_DIR / f"{self.scenario}-{self.started.replace(':', '')}.{suffix}"

    def save(self) -> Path:
        path = self.path("json")
        path.write_text(
            json.dumps(
                {
                    "scenario": self.scenario,
                    "started": self.started,
                    "machine": machine(),
                    "parameters": self.parameters,
                    "figures": self.figures,
                },
                indent=2,
                default=str,
            )
        )
        console.print(f"results: {path}")
        return path


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _cell(value: Any) -> str:
    """Thousands separators; two decimals below 10, where ratios live (0.12, not 0.1)."""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
