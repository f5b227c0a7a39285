"""An isolated authtrail pipeline on a running stack: its own topics, subjects, consumer
group, connector and database, and its services as real subprocesses (so they can be killed).

Tests build one per test; benchmarks one per run, so each starts from a known state."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from authtrail.contract import register_contract
from authtrail.emitter import EventEmitter
from authtrail.integrity.signing_key import ensure_signing_key
from authtrail.kafka.clients import admin_client, consumer_config
from authtrail.kafka.offsets import committed, consumer_lag
from authtrail.kafka.records import header_map, read_topic
from authtrail.kafka_connect import ConnectorClient
from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.topics import ensure_topics, topic_specs
from authtrail.waiting import wait_for
from connect.sink.deploy import deploy_sink
from scripts.stack.processes import ProcessTable, Tracked

SERVICE_COMMANDS = {
    "transformer": ["consume"],
    "sink-watch": ["sink-watch"],
    "sealer": ["seal"],
    "api": ["serve"],
    "pass-through": ["bench", "pass-through"],
}


class IsolatedPipeline:
    def __init__(self, base: Settings, unique: str, workdir: Path, **overrides: Any) -> None:
        self.settings = base.model_copy(
            update={
                "raw_topic": f"t{unique}.raw",
                "sink_topic": f"t{unique}.sink",
                "dlq_topic": f"t{unique}.dlq",
                "sink_dlq_topic": f"t{unique}.sink.dlq",
                "transformer_group": f"transformer-{unique}",
                "sealer_group": f"sealer-{unique}",
                "integrity_signing_key_file": workdir / "keys" / "checkpoint-signing.key",
                "connector_name": f"sink-{unique}",
                "mongo_database": f"db_{unique}",
                "connector_tasks_max": 1,
                # Several pipelines (and a development `authtrail up`) share the machine: no
                # metrics ports unless a test or benchmark asks for its own.
                "transformer_metrics_port": 0,
                "sink_watch_metrics_port": 0,
                "sealer_metrics_port": 0,
                "api_metrics_port": 0,
                **overrides,
            }
        )
        self.workdir = workdir
        self.processes = ProcessTable(workdir / "run")
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(self.settings.mongo_uri.get_secret_value())
        self.connector = ConnectorClient(self.settings.connect_url, self.settings.connector_name)

    @property
    def collection(self) -> Collection[dict[str, Any]]:
        return self.mongo[self.settings.mongo_database][self.settings.mongo_collection]

    def deploy(self) -> None:
        ensure_topics(admin_client(self.settings), topic_specs(self.settings), 1)
        register_contract(self.settings)
        deploy_sink(self.settings)

    # --- services as subprocesses ----------------------------------------------------------
    def start(self, service: str = "transformer", name: str | None = None, **overrides: Any) -> Tracked:
        name = name or service
        if service == "sealer":
            ensure_signing_key(self.settings)  # as `authtrail up` does: once, kept
        env = {
            **os.environ,
            **self.settings.model_copy(update=overrides).to_env(),
            "AUTHTRAIL_LOG_DIR": str(self.workdir / "log"),
        }
        return self.processes.start(
            name,
            [sys.executable, "-m", "scripts", *SERVICE_COMMANDS[service]],
            self.workdir / f"{name}.out",
            env=env,
        )

    def cli(self, *args: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
        """Run ``authtrail <args>`` against this pipeline, as a user would."""
        env = {
            **os.environ,
            **self.settings.model_copy(update=overrides).to_env(),
            "AUTHTRAIL_LOG_DIR": str(self.workdir / "log"),
        }
        return subprocess.run(
            [sys.executable, "-m", "scripts", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def kill(self, name: str) -> None:
        self.processes.kill(name)

    def stop(self, name: str) -> None:
        self.processes.stop(name)

    def log_of(self, name: str) -> str:
        path = self.workdir / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- producing and observing -------------------------------------------------------------
    def emitter(self, schema_str: str | None = None) -> EventEmitter:
        return EventEmitter(self.settings, schema_str=schema_str)

    def stored_ids(self) -> list[str]:
        return [doc["_id"] for doc in self.collection.find({}, {"_id": 1})]

    def caught_up(self) -> bool:
        """The transformer has committed all of the raw topic and the sink all of the sink topic
        (the sink commits only what it wrote): read from the broker, as cheap at any size."""
        s = self.settings
        return (
            consumer_lag(s, s.transformer_group, s.raw_topic) == 0
            and consumer_lag(s, f"connect-{s.connector_name}", s.sink_topic) == 0
        )

    def wait_stored(self, count: int, timeout_s: float = 120) -> int:
        """Wait until at least ``count`` documents are stored; the store is counted only when
        the pipeline looks idle, not on every poll."""
        return wait_for(
            lambda: self.caught_up() and (n := self.collection.count_documents({})) >= count and n,
            timeout_s,
            f"{count} stored documents",
            interval_s=0.5,
        )

    def read_topic(self, topic: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Every record of ``topic`` (all partitions), with headers decoded."""
        config = consumer_config(self.settings, "reader", "authtrail-test-reader")
        return [
            {
                "key": r.key,
                "value": r.value,
                "partition": r.partition,
                "offset": r.offset,
                "headers": header_map(list(r.headers)),
            }
            for r in read_topic(config, topic, timeout_s)
        ]

    def wait_dead_letters(self, count: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Every record of the human-facing DLQ topic, once it holds at least ``count`` (≥ 1)."""

        def letters() -> list[dict[str, Any]]:
            records = self.read_topic(self.settings.dlq_topic)
            return records if len(records) >= count else []  # falsy: wait on

        return wait_for(letters, timeout_s, f"{count} dead letters")

    def key(self, company_id: int | None = None) -> str:
        """A fresh API key on this pipeline's store (operator unless a company is given)."""
        return create_key(self.settings, company_id, f"test {company_id or 'operator'}").secret_key

    def committed(self, group: str, topic: str) -> int:
        """Sum of the offsets ``group`` committed on ``topic`` (what the broker really holds)."""
        return sum(max(offset, 0) for offset in committed(self.settings, group, topic).values())

    def close(self, drop_data: bool = False) -> None:
        """Stop its processes and its connector; ``drop_data`` also drops its database and
        topics (benchmarks, which would otherwise leave millions of events on the dev stack)."""
        for name in list(self.processes.run_dir.glob("*.json")):
            self.processes.stop(name.stem)
        self.connector.delete()
        if drop_data:
            self.mongo.drop_database(self.settings.mongo_database)
            admin = admin_client(self.settings)  # held: the futures die with their client
            topics = [spec.name for spec in topic_specs(self.settings)]
            for future in admin.delete_topics(topics, operation_timeout=30).values():
                future.result()
        self.mongo.close()


@contextmanager
def isolated_pipeline(
    base: Settings, unique: str, workdir: Path, deploy: bool = True, **overrides: Any
) -> Iterator[IsolatedPipeline]:
    running = IsolatedPipeline(base, unique, workdir, **overrides)
    try:
        if deploy:
            running.deploy()
        yield running
    finally:
        running.close()
