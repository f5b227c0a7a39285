"""The event contract (``schemas/``): parsed once per process, registered in the Schema Registry.

* ``audit_event.avsc`` / ``audit_event_key.avsc``: what producers write to the raw topic,
  registered under TopicNameStrategy subjects ``<topic>-value`` / ``<topic>-key``.
* ``stored_audit_event.json``: the stored document's shape ($jsonSchema with bsonType).

Registration (``authtrail register-schemas``) is idempotent: registering a schema the subject
already holds returns its existing id. Each subject's compatibility is set to a *transitive*
mode first (FULL_TRANSITIVE by default): audit topics are replayed from the beginning, so every
version must stay readable by — and able to read — every older one, not just its predecessor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.logs import get_logger
from authtrail.settings import Settings

EVENT_SCHEMA_FILE = "audit_event.avsc"
KEY_SCHEMA_FILE = "audit_event_key.avsc"
STORED_SHAPE_FILE = "stored_audit_event.json"
EVENT_FULL_NAME = "com.acme.authtrail.AuditEvent"
log = get_logger(__name__)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the registry client raises when it cannot reach the registry: httpx's transport
    errors — of httpx2 when installed, which confluent-kafka then uses instead of httpx."""
    errors: tuple[type[BaseException], ...] = (httpx.TransportError, OSError)
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]

        errors += (httpx2.TransportError,)
    except ImportError:
        pass
    return errors


TRANSPORT_ERRORS = _transport_errors()


@dataclass(frozen=True)
class Contract:
    event_schema_str: str
    key_schema_str: str
    event_schema: Any  # fastavro parsed schema
    key_schema: Any
    stored_shape: dict[str, Any]


def value_subject(topic: str) -> str:
    return f"{topic}-value"


def key_subject(topic: str) -> str:
    return f"{topic}-key"


@cache
def load_contract(schemas_dir: Path) -> Contract:
    event_str = (schemas_dir / EVENT_SCHEMA_FILE).read_text(encoding="utf-8")
    key_str = (schemas_dir / KEY_SCHEMA_FILE).read_text(encoding="utf-8")
    return Contract(
        event_schema_str=event_str,
        key_schema_str=key_str,
        event_schema=fastavro.parse_schema(json.loads(event_str)),
        key_schema=fastavro.parse_schema(json.loads(key_str)),
        stored_shape=json.loads((schemas_dir / STORED_SHAPE_FILE).read_text(encoding="utf-8")),
    )


class SchemaRejectedError(AuthtrailError):
    """The registry refused a schema; the message is the registry's own."""


@dataclass(frozen=True)
class Registered:
    subject: str
    schema_id: int
    version: int
    compatibility: str


def register_contract(settings: Settings) -> list[Registered]:
    contract = load_contract(settings.schemas_dir)
    return [
        register(settings, key_subject(settings.raw_topic), contract.key_schema_str),
        register(settings, value_subject(settings.raw_topic), contract.event_schema_str),
    ]


def register(settings: Settings, subject: str, schema_str: str) -> Registered:
    """Set the subject's compatibility, then register the schema (or find it registered)."""
    with SchemaRegistryClient({"url": settings.schema_registry_url}) as client:
        try:
            client.set_compatibility(subject_name=subject, level=settings.schema_compatibility)
            schema_id = client.register_schema(subject, Schema(schema_str, "AVRO"))
            version = client.lookup_schema(subject, Schema(schema_str, "AVRO")).version
        except SchemaRegistryError as exc:
            if exc.http_status_code in (409, 422):
                raise SchemaRejectedError(
                    f"registry refused the schema for {subject}: {exc.error_message} "
                    f"(HTTP {exc.http_status_code}, code {exc.error_code})"
                ) from exc
            raise DependencyUnavailableError("schema registry", str(exc)) from exc
        except TRANSPORT_ERRORS as exc:  # connection refused, timeouts: the registry is not there
            raise DependencyUnavailableError("schema registry", f"{type(exc).__name__}: {exc}") from exc
    log.info("schema registered", subject=subject, schema_id=schema_id, version=version)
    return Registered(subject, schema_id, version, settings.schema_compatibility)
