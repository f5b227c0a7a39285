"""``authtrail deploy-connectors``: create or update the MongoDB sink through Connect's REST API.

``PUT /connectors/<name>/config`` is idempotent: it creates the connector or updates it in
place. The store's query indexes are ensured at the same time. The config text is
``connect/mongo-sink.json`` with ``${…}`` placeholders filled from settings.
"""

from __future__ import annotations

import json
import string
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.logs import get_logger
from authtrail.settings import Settings
from authtrail.store import ensure_indexes

log = get_logger(__name__)
POLL_S = 0.5


class ConnectorFailedError(AuthtrailError):
    """The connector or one of its tasks failed; carries Connect's trace."""


@dataclass(frozen=True)
class ConnectorState:
    name: str
    state: str
    tasks: list[dict[str, Any]]


def render_sink_config(settings: Settings, **overrides: str) -> dict[str, str]:
    values = {
        "tasks_max": str(settings.connector_tasks_max),
        "sink_topic": settings.sink_topic,
        "mongo_uri": settings.mongo_uri.get_secret_value(),
        "database": settings.mongo_database,
        "collection": settings.mongo_collection,
        "sink_dlq_topic": settings.sink_dlq_topic,
        "replication_factor": str(settings.topic_replication_factor),
        **overrides,
    }
    template = json.loads(settings.connector_config_file.read_text(encoding="utf-8"))
    return {key: string.Template(value).substitute(values) for key, value in template.items()}


def deploy_sink(
    settings: Settings,
    timeout_s: float = 120.0,
    name: str | None = None,
    config: dict[str, str] | None = None,
) -> ConnectorState:
    """Ensure indexes, put the connector config, wait until connector and tasks run."""
    _ensure_store_indexes(settings)
    name = name or settings.connector_name
    return put_connector(settings.connect_url, name, config or render_sink_config(settings), timeout_s)


def put_connector(connect_url: str, name: str, config: dict[str, str], timeout_s: float) -> ConnectorState:
    try:
        response = httpx.put(f"{connect_url}/connectors/{name}/config", json=config, timeout=30)
    except httpx.HTTPError as exc:
        raise DependencyUnavailableError("kafka connect", str(exc)) from exc
    if response.status_code >= 400:
        raise ConnectorFailedError(f"Connect refused the config of {name}: {response.text}")
    log.info("connector config applied", connector=name, created=response.status_code == 201)
    return wait_running(connect_url, name, timeout_s)


def connector_status(connect_url: str, name: str) -> ConnectorState | None:
    try:
        response = httpx.get(f"{connect_url}/connectors/{name}/status", timeout=10)
    except httpx.HTTPError as exc:
        raise DependencyUnavailableError("kafka connect", str(exc)) from exc
    if response.status_code == 404:
        return None
    body = response.json()
    return ConnectorState(name=name, state=body["connector"]["state"], tasks=body.get("tasks", []))


def wait_running(connect_url: str, name: str, timeout_s: float) -> ConnectorState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = connector_status(connect_url, name)
        if state is not None:
            failed = [t for t in state.tasks if t["state"] == "FAILED"]
            if state.state == "FAILED" or failed:
                trace = (failed[0] if failed else {}).get("trace", "") or state.state
                raise ConnectorFailedError(f"{name} failed:\n{trace[:4000]}")
            if state.state == "RUNNING" and state.tasks and all(t["state"] == "RUNNING" for t in state.tasks):
                return state
        if time.monotonic() > deadline:
            raise ConnectorFailedError(f"{name} not RUNNING within {timeout_s:.0f}s (last: {state})")
        time.sleep(POLL_S)


def delete_connector(connect_url: str, name: str) -> None:
    httpx.delete(f"{connect_url}/connectors/{name}", timeout=30)


def _ensure_store_indexes(settings: Settings) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms * 5,
    )
    try:
        ensure_indexes(client[settings.mongo_database][settings.mongo_collection])
    except PyMongoError as exc:
        raise DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
