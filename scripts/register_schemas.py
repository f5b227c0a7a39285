"""``authtrail register-schemas``: put the event contract into the Schema Registry.

Idempotent: registering a schema the subject already holds returns its existing id. Each
subject's compatibility is set to a *transitive* mode first (settings: FULL_TRANSITIVE by
default): audit topics are replayed from the beginning, so every version must stay
readable by — and able to read — every older one, not just its predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from authtrail.contract import key_subject, load_contract, value_subject
from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)


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
        except Exception as exc:  # connection refused, timeouts: the registry is not there
            raise DependencyUnavailableError("schema registry", f"{type(exc).__name__}: {exc}") from exc
    log.info("schema registered", subject=subject, schema_id=schema_id, version=version)
    return Registered(subject, schema_id, version, settings.schema_compatibility)
