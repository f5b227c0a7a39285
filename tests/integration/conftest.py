"""Fixtures shared by the integration suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from authtrail.settings import Settings
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path: Path) -> Iterator[IsolatedPipeline]:
    """A pipeline of this test's own, its transformer and sink watch running, two sink tasks
    (test modules that need another shape define their own ``pipe``)."""
    with isolated_pipeline(settings, unique, tmp_path, connector_tasks_max=2) as running:
        running.start("transformer")
        running.start("sink-watch")
        yield running
