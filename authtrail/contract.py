"""The event contract (``schemas/``), parsed once per process.

* ``audit_event.avsc`` / ``audit_event_key.avsc``: what producers write to the raw topic,
  registered under TopicNameStrategy subjects ``<topic>-value`` / ``<topic>-key``.
* ``stored_audit_event.json``: the stored document's shape ($jsonSchema with bsonType).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

EVENT_SCHEMA_FILE = "audit_event.avsc"
KEY_SCHEMA_FILE = "audit_event_key.avsc"
STORED_SHAPE_FILE = "stored_audit_event.json"
EVENT_FULL_NAME = "com.acme.authtrail.AuditEvent"


@dataclass(frozen=True)
class Contract:
    event_schema_str: str
    key_schema_str: str
    event_schema: Any  # fastavro parsed schema
    key_schema: Any
    stored_shape: dict[str, Any]

    @property
    def event_fields(self) -> list[str]:
        return [f["name"] for f in json.loads(self.event_schema_str)["fields"]]


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
