"""``authtrail up`` / ``authtrail down``: the whole system on the local stack, in one command.

``up``: the stack's servers → topics → schemas → sink connector (+ indexes) → the checkpoint
signing key (created once, for ``authtrail seal``) → authtrail's own services as background
processes (transformer, sink watch, API) → sample events, waited for until stored. Every step is idempotent,
so ``up`` twice is harmless.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from pymongo import MongoClient
from rich.table import Table

from authtrail.contract import register_contract
from authtrail.emitter import EventEmitter
from authtrail.errors import StackError
from authtrail.integrity.signing_key import ensure_signing_key, public_key_path
from authtrail.kafka.clients import admin_client
from authtrail.kafka.offsets import consumer_lag
from authtrail.key_store import dev_key_file, ensure_operator_key
from authtrail.logs import configure_logging
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings, get_settings
from authtrail.topics import ensure_topics, topic_specs
from authtrail.waiting import http_ok, wait_until
from connect.sink.deploy import deploy_sink
from scripts.console import console, step
from scripts.stack.cli import print_status
from scripts.stack.control import LocalStack
from scripts.stack.processes import ProcessTable

# authtrail's own long-running services: name → `authtrail` sub-command. The sealer keeps up
# with the pipeline's maximum ingest on this machine (docs/benchmarks.md, "integrity").
SERVICES = {"transformer": "consume", "sink-watch": "sink-watch", "sealer": "seal", "api": "serve"}


def up(
    sample: Annotated[int, typer.Option(min=0, help="Sample events to emit once running.")] = 1000,
) -> None:
    """Start everything: servers, topics, schemas, sink connector, transformer, sample data."""
    settings = get_settings()
    configure_logging(settings, "system", console_level="WARNING")
    stack = LocalStack(settings)
    print_status(stack.up())
    with step("creating topics, registering schemas, deploying the MongoDB sink"):
        ensure_topics(admin_client(settings), topic_specs(settings), settings.topic_replication_factor)
        register_contract(settings)
        deploy_sink(settings)
    key_id, created = ensure_signing_key(settings)
    if created:
        console.print(f"checkpoint signing key {key_id} created: {settings.signing_key_path} (mode 600)")
    services = ProcessTable(stack.layout.run)
    for name, command in SERVICES.items():
        if services.running(name) is None:
            services.start(name, [sys.executable, "-m", "scripts", command], stack.layout.log(name))
    _check_services_alive(services, stack)
    _wait_api(settings, stack)
    ensure_operator_key(settings, dev_key_file(settings), "development operator (authtrail up)")
    if sample:
        _emit_and_wait(settings, sample)
    _where(settings, stack)


def down() -> None:
    """Stop authtrail's services and the stack's servers; data stays (`stack down --purge` wipes)."""
    settings = get_settings()
    configure_logging(settings, "system", console_level="WARNING")
    stack = LocalStack(settings)
    services = ProcessTable(stack.layout.run)
    stopped = [name for name in SERVICES if services.stop(name)]
    stopped += stack.down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


def _check_services_alive(services: ProcessTable, stack: LocalStack) -> None:
    time.sleep(1.0)  # a service that cannot start (bad settings, missing topic) exits at once
    for name in SERVICES:
        if services.running(name) is None:
            raise StackError(f"{name} exited at start-up; see {stack.layout.log(name)}")


def _wait_api(settings: Settings, stack: LocalStack) -> None:
    if not wait_until(lambda: http_ok(f"{settings.api_url}/health", timeout_s=1), 30, 0.2):
        raise StackError(f"the query API did not answer on {settings.api_url}; see {stack.layout.log('api')}")


def _emit_and_wait(settings: Settings, count: int) -> None:
    emitter = EventEmitter(settings)
    factory = EventFactory()
    ids = []
    with step(f"emitting {count} sample events and waiting until they are stored"):
        for _ in range(count):
            event = factory.event()
            ids.append(event["id"])
            emitter.send(event)
        emitter.close()
        stored = _wait_stored(settings, ids, timeout_s=120)
    console.print(f"sample events: sent {emitter.counts.sent}, acked {emitter.counts.acked}, stored {stored}")
    if stored < count:
        raise typer.Exit(1)


def _wait_stored(settings: Settings, ids: list[str], timeout_s: float) -> int:
    """How many of ``ids`` are stored, once the transformer and the sink have caught up.

    Progress is read from the broker (each consumer group's lag), which costs the same at any
    collection size; the store is asked only about these ids, once the pipeline is idle.
    """
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    collection = client[settings.mongo_database][settings.mongo_collection]
    sink_group = f"connect-{settings.connector_name}"
    stored = 0

    def all_stored() -> bool:
        nonlocal stored
        if (
            consumer_lag(settings, settings.transformer_group, settings.raw_topic) == 0
            and consumer_lag(settings, sink_group, settings.sink_topic) == 0
        ):
            stored = sum(1 for _ in collection.find({"_id": {"$in": ids}}, {"_id": 1}))
        return stored == len(ids)

    try:
        wait_until(all_stored, timeout_s, 0.5)
    finally:
        client.close()
    return stored


def _where(settings: Settings, stack: LocalStack) -> None:
    table = Table("what", "where", title="authtrail is running")
    table.add_row("query API", f"{settings.api_url}/audit_events   (reference: {settings.api_url}/docs)")
    table.add_row("viewer (browser)", f"{settings.api_url}/ui   (sign in with the development operator key)")
    table.add_row(
        "raw topic (producers write here)", f"{settings.kafka_bootstrap_servers} {settings.raw_topic}"
    )
    table.add_row("dead letters", settings.dlq_topic)
    table.add_row(
        "store", f"{settings.mongo_database}.{settings.mongo_collection} on port {settings.store_port}"
    )
    table.add_row(
        "development operator key", f"{dev_key_file(settings)}  (authtrail keys create … for others)"
    )
    table.add_row(
        "checkpoint public key", f"{public_key_path(settings.signing_key_path)}  (companies pin this)"
    )
    table.add_row("logs", f"{settings.log_dir}/  and  {stack.layout.logs}/")
    table.add_row("stop", "make down   (or: authtrail down)")
    console.print(table)
    console.print(
        f'try:  curl -H "Authorization: Bearer $(cat {dev_key_file(settings)})" '
        f"'{settings.api_url}/audit_events?per_page=2'"
    )
