"""Versions of every server in the local stack.

Maven artifacts are pinned in ``pom.xml`` (read here, so each version is written once);
Go modules are pinned below and built from the Go module proxy.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
REGISTRY_MODULE = "github.com/axonops/axonops-schema-registry"
# v0.2.1 is the newest tag the Go module proxy serves here (later tags answer 403).
REGISTRY_VERSION = "v0.2.1"


@cache
def pom_properties() -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(POM).getroot().find("m:properties", ns)  # noqa: S314 - our own pom.xml
    assert props is not None, "pom.xml has no <properties>"
    return {child.tag.split("}", 1)[1]: (child.text or "").strip() for child in props}


def kafka_version() -> str:
    return pom_properties()["kafka.version"]


def mongo_connector_version() -> str:
    return pom_properties()["mongo.connector.version"]


def postgres_version() -> str:
    return pom_properties()["postgres.version"]
