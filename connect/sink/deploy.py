"""``authtrail deploy-connectors``: create or update the MongoDB sink through Connect's REST API.

``PUT /connectors/<name>/config`` is idempotent: it creates the connector or updates it in
place. The store's query indexes are ensured at the same time. The config text is
``connect/sink/mongo-sink.json`` with ``${…}`` placeholders filled from settings.
"""

from __future__ import annotations

import json
import string
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka_connect import ConnectorClient, ConnectorStatus
from authtrail.settings import Settings
from authtrail.store import ensure_indexes


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


def deploy_sink(settings: Settings, timeout_s: float = 120.0) -> ConnectorStatus:
    """Ensure the store's indexes, put the connector config, wait until connector and tasks run."""
    _ensure_store_indexes(settings)
    connector = ConnectorClient(settings.connect_url, settings.connector_name)
    return connector.deploy(render_sink_config(settings), timeout_s)


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
