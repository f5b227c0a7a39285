"""Decode raw records: Confluent wire format (magic byte 0, 4-byte schema id, Avro body).

A schema id is trusted only if the registry lists it as a version of the expected subject
(``<raw topic>-value`` for values, ``-key`` for keys): valid Avro of some other schema is
refused, not misread. Lookups are cached per id, so the registry is asked once per schema
(an unknown id is asked again after ``UNKNOWN_TTL_S``).

Two kinds of failure, kept apart on purpose:
* :class:`DecodeError` — the record itself is bad; it goes to the dead-letter topic.
* :class:`~authtrail.errors.DependencyUnavailableError` — the registry could not answer; the
  record is fine and must be retried, never dead-lettered.
"""

from __future__ import annotations

import io
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.schema import SchemaParseException

from authtrail.contract import TRANSPORT_ERRORS
from authtrail.errors import DependencyUnavailableError, RecordRejectedError

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
UNKNOWN_TTL_S = 10.0
UNREADABLE: tuple[type[BaseException], ...] = (SchemaRegistryError, *TRANSPORT_ERRORS)


class DecodeError(RecordRejectedError):
    """The record's bytes are not a readable version of the contract."""


@dataclass(frozen=True)
class WriterSchema:
    schema_id: int
    parsed: Any
    subject_versions: frozenset[tuple[str, int]]


SchemaLookup = Callable[[int], WriterSchema | None]


class RegistrySchemas:
    """Writer schemas by id from the Schema Registry, cached for the process's life (a
    registered schema id never changes meaning); an id the registry does not know, for
    ``UNKNOWN_TTL_S`` only — it may be registered a moment later, or known to a peer first.

    A "not found" is believed only while the registry can read its storage: AxonOps Schema
    Registry v0.2.1 answers 404 "Schema not found" for *any* failed storage read (its
    PostgreSQL down), which would dead-letter every good record. So a 404 is checked against
    ``control_subject`` — a subject this transformer reads, registered before it runs: if that
    cannot be listed either, the registry is unavailable, not the schema unknown; and the id is
    asked again, its second 404 believed only if the subject can be listed after it too.
    """

    def __init__(
        self,
        client: SchemaRegistryClient,
        control_subject: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._control_subject = control_subject
        self._clock = clock
        self._cache: dict[int, WriterSchema] = {}
        self._unknown_until: dict[int, float] = {}

    @classmethod
    def at(cls, url: str, control_subject: str) -> RegistrySchemas:
        return cls(SchemaRegistryClient({"url": url, "timeout": 5}), control_subject)

    def __call__(self, schema_id: int) -> WriterSchema | None:
        if schema_id in self._cache:
            return self._cache[schema_id]
        if self._unknown_until.get(schema_id, 0.0) > self._clock():
            return None
        found = self._fetch(schema_id)
        if found is None:
            self._unknown_until[schema_id] = self._clock() + UNKNOWN_TTL_S
        else:
            self._cache[schema_id] = found
            self._unknown_until.pop(schema_id, None)
        return found

    def _fetch(self, schema_id: int) -> WriterSchema | None:
        """The id's writer schema, or None if the registry does not know it — said twice, the
        second time between two reads that show the registry reading its storage (a registry
        coming back from an outage is the moment a lone 404 would be believed)."""
        found = self._lookup(schema_id)
        if found is None:
            self._confirm_readable(schema_id)
            found = self._lookup(schema_id)
            if found is None:
                self._confirm_readable(schema_id)
        return found

    def _lookup(self, schema_id: int) -> WriterSchema | None:
        try:
            schema = self._client.get_schema(schema_id)
            versions = self._client.get_schema_versions(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise DependencyUnavailableError("schema registry", str(exc)) from exc
        except TRANSPORT_ERRORS as exc:  # connection refused, reset, timeout (anything else is a bug)
            raise DependencyUnavailableError("schema registry", f"{type(exc).__name__}: {exc}") from exc
        subject_versions = frozenset((str(v.subject), int(v.version or 0)) for v in versions)
        if schema.schema_type not in (None, "AVRO") or schema.schema_str is None:
            return WriterSchema(schema_id, None, subject_versions)
        try:
            parsed = fastavro.parse_schema(json.loads(schema.schema_str))
        except (ValueError, SchemaParseException):  # registered, but not Avro this reader can use
            return WriterSchema(schema_id, None, subject_versions)
        return WriterSchema(schema_id=schema_id, parsed=parsed, subject_versions=subject_versions)

    def _confirm_readable(self, schema_id: int) -> None:
        try:
            self._client.get_versions(self._control_subject)  # never cached by the client
        except UNREADABLE as exc:
            raise DependencyUnavailableError(
                "schema registry",
                f"schema id {schema_id} not found, and {self._control_subject} cannot be listed "
                f"either ({exc}): the registry cannot read its storage",
            ) from exc

    def close(self) -> None:
        self._client.close()


class AvroDecoder:
    """Decodes one subject's records; ``what`` (key/value) names the part in error reasons."""

    def __init__(self, schemas: SchemaLookup, subject: str, what: str) -> None:
        self.schemas = schemas
        self.subject = subject
        self.what = what
        self._trusted: dict[int, Any] = {}

    def _trust(self, schema_id: int) -> Any:
        """The parsed writer schema, once the registry lists it as a version of our subject
        (checked once per id: an id never changes meaning)."""
        writer = self.schemas(schema_id)
        if writer is None:
            raise DecodeError(
                f"unknown_schema_id_{self.what}", f"schema id {schema_id} is not in the registry"
            )
        ours = any(s == self.subject for s, _ in writer.subject_versions)
        if writer.parsed is None and ours:
            raise DecodeError(
                f"wrong_schema_{self.what}",
                f"schema id {schema_id} of {self.subject} is not an Avro schema this transformer can read",
            )
        if writer.parsed is None or not ours:
            raise DecodeError(
                f"wrong_schema_{self.what}",
                f"schema id {schema_id} is not a version of {self.subject} "
                f"(it belongs to {sorted(s for s, _ in writer.subject_versions) or 'no subject'})",
            )
        self._trusted[schema_id] = writer.parsed
        return writer.parsed

    def decode(self, data: bytes | None) -> tuple[Any, int]:
        """The decoded datum and its writer schema id."""
        if not data:
            raise DecodeError(f"missing_{self.what}", f"the record has no {self.what}")
        if len(data) < HEADER.size or data[0] != MAGIC_BYTE:
            raise DecodeError(
                f"not_avro_{self.what}",
                f"{self.what} is not in the Schema Registry wire format (magic byte 0 + schema id)",
            )
        _, schema_id = HEADER.unpack_from(data)
        parsed = self._trusted.get(schema_id)
        if parsed is None:
            parsed = self._trust(schema_id)
        body = io.BytesIO(memoryview(data)[HEADER.size :])
        try:
            datum = fastavro.schemaless_reader(body, parsed, None)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid_utf8_{self.what}", f"a string is not valid UTF-8: {exc}") from exc
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError… on corrupt input
            raise DecodeError(
                f"malformed_avro_{self.what}",
                f"cannot decode with schema {schema_id}: {type(exc).__name__}: {exc}",
            ) from exc
        if body.tell() != len(data) - HEADER.size:
            raise DecodeError(
                f"malformed_avro_{self.what}",
                f"{len(data) - HEADER.size - body.tell()} trailing bytes after the record "
                f"(schema {schema_id})",
            )
        return datum, schema_id
