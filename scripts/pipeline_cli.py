"""Pipeline commands: topics, schemas, connector deployment, and the transformer itself."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from authtrail.contract import register_contract
from authtrail.kafka.clients import admin_client
from authtrail.logs import configure_logging, get_logger
from authtrail.metrics import MULTIPROCESS_DIR_ENV, multiprocess_directory, serving_metrics
from authtrail.settings import Settings, get_settings
from authtrail.topics import ensure_topics, topic_specs
from connect.sink.deploy import deploy_sink
from connect.transformer.service import build_service
from query_service.metrics import COMPONENT_PREFIX
from scripts.console import console

log = get_logger(__name__)


def _settings(component: str, console_level: str | None = "WARNING") -> Settings:
    settings = get_settings()
    configure_logging(settings, component, console_level=console_level)
    return settings


def create_topics() -> None:
    """Create the raw, sink and dead-letter topics with their intended partitions (idempotent)."""
    settings = _settings("deploy")
    table = Table("topic", "partitions", "state")
    for state in ensure_topics(
        admin_client(settings), topic_specs(settings), settings.topic_replication_factor
    ):
        table.add_row(state.name, str(state.partitions), state.action)
    console.print(table)


def register_schemas() -> None:
    """Register the Avro contract under TopicNameStrategy subjects (idempotent); print the ids."""
    settings = _settings("deploy")
    table = Table("subject", "schema id", "version", "compatibility")
    for registered in register_contract(settings):
        table.add_row(
            registered.subject, str(registered.schema_id), str(registered.version), registered.compatibility
        )
    console.print(table)


def deploy_connectors() -> None:
    """Create/update the MongoDB sink connector, ensure the store's indexes, wait until RUNNING."""
    settings = _settings("deploy")
    state = deploy_sink(settings)
    console.print(
        f"{state.name}: {state.state}; tasks: " + ", ".join(f"{t['id']}={t['state']}" for t in state.tasks)
    )


def consume() -> None:
    """Run the transformer (raw → validate → transforms → sink / dead-letter topic) until SIGTERM."""
    settings = _settings("consume", console_level=None)
    log.info("effective settings", **settings.public_view())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service = build_service(settings)
    port = settings.transformer_metrics_port
    with serving_metrics(settings.metrics_host, port, "transformer_metrics_port", "authtrail_transformer_"):
        service.run(stop)


def sink_watch() -> None:
    """Restart failed sink tasks and reconcile the sink's dead letters, until SIGTERM."""
    from connect.sink.watch import run_sink_watch

    settings = _settings("sink-watch", console_level=None)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    port = settings.sink_watch_metrics_port
    with serving_metrics(settings.metrics_host, port, "sink_watch_metrics_port", "authtrail_sink_watch_"):
        run_sink_watch(settings, stop)


def seal() -> None:
    """Seal accepted events into each company's Merkle log and sign checkpoints, until SIGTERM."""
    from connect.sealer.service import build_service as build_sealer

    settings = _settings("seal", console_level=None)
    log.info("effective settings", **settings.public_view())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service, mongo = build_sealer(settings)
    try:
        with serving_metrics(
            settings.metrics_host, settings.sealer_metrics_port, "sealer_metrics_port", "authtrail_sealer_"
        ):
            service.run(stop)
    finally:
        mongo.close()


def serve(
    workers: Annotated[
        int | None, typer.Option(min=1, help="uvicorn worker processes (default: settings).")
    ] = None,
) -> None:
    """Serve the query API (GET /audit_events, /health, /ready, /openapi.json, /docs) with uvicorn."""
    import uvicorn

    settings = _settings("serve", console_level=None)
    workers = workers or settings.api_workers
    with _api_metrics(settings, workers):
        uvicorn.run(
            "query_service.app:app_from_environment",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=workers,
            log_config=None,
            access_log=False,  # authtrail logs one line per request itself
            server_header=False,
        )


@contextmanager
def _api_metrics(settings: Settings, workers: int) -> Iterator[None]:
    """The API's metrics endpoint, served by this (uvicorn's parent) process. Several workers
    count into files of one fresh directory (prometheus_client's multiprocess mode, switched on
    by its own variable, which the workers inherit); the endpoint serves their sum."""
    directory = None
    if workers > 1:
        directory = multiprocess_directory(settings.stack_dir / "metrics")
        os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    try:
        with serving_metrics(
            settings.metrics_host, settings.api_metrics_port, "api_metrics_port", COMPONENT_PREFIX
        ):
            yield
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def alive() -> None:
    """Exit 0 if this container's service loop beat recently (AUTHTRAIL_HEARTBEAT_FILE); for healthchecks."""
    from authtrail.heartbeat import age_s

    settings = get_settings()
    if settings.heartbeat_file is None:
        raise typer.BadParameter("AUTHTRAIL_HEARTBEAT_FILE is not set")
    age = age_s(settings.heartbeat_file)
    if age is None or age > settings.heartbeat_max_age_s:
        typer.echo(f"stale: last beat {'never' if age is None else f'{age:.0f}s ago'}")
        raise typer.Exit(1)
    typer.echo(f"alive: last beat {age:.0f}s ago")
