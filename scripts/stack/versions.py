"""Versions of every server in the local stack.

Maven artifacts are pinned in ``pom.xml`` (read here, so each version is written once);
Go modules are pinned below and built from the Go module proxy.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

from authtrail.errors import StackError

POM = Path(__file__).with_name("pom.xml")

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# The stack builds FerretDB with this patch (see ferretdb/README.md). Its sha256 is pinned so
# that an edited patch is never built by accident: after reviewing an edit, update the pin.
FERRETDB_PATCH = Path(__file__).with_name("ferretdb") / "pushdown.patch"
FERRETDB_PATCH_SHA256 = "c4d60d16f8f0863398566d69f988698dd68ab10a8f51b2e8856cb1899e085393"
REGISTRY_MODULE = "github.com/axonops/axonops-schema-registry"
# v0.2.1 is the newest tag the Go module proxy serves here (later tags answer 403).
REGISTRY_VERSION = "v0.2.1"
# promtool, for the suite's checks of metrics, alert rules and the Prometheus config (Go module
# versions v0.3xx.y are Prometheus 3.xx.y; v0.316.0 is the newest the proxy serves here).
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_VERSION = "v0.316.0"
# The Prometheus JMX exporter's Java agent (version in pom.xml): the sha256 of its jar, checked
# after every fetch, and the same pin the container images' `ADD --checksum` carry.
JMX_EXPORTER_SHA256 = "7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1"
# Its rules, one file per JVM: what of Kafka's and Connect's JMX becomes which metric.
JMX_RULES = Path(__file__).with_name("jmx")


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


def jmx_exporter_version() -> str:
    return pom_properties()["jmx.exporter.version"]


def jmx_agent_jar_name() -> str:
    return f"jmx_prometheus_javaagent-{jmx_exporter_version()}.jar"


def check_jmx_agent(jar: Path) -> Path:
    """The agent's jar, once its sha256 matches the pin (Maven checks only a SHA-1, and warns)."""
    actual = hashlib.sha256(jar.read_bytes()).hexdigest()
    if actual != JMX_EXPORTER_SHA256:
        raise StackError(
            f"{jar} has sha256 {actual}, but scripts/stack/versions.py pins {JMX_EXPORTER_SHA256}: "
            "delete it to fetch it again, or review a version change and update JMX_EXPORTER_SHA256"
        )
    return jar


def ferretdb_build_version() -> str:
    """The patched FerretDB's version string: the release and the patch's hash."""
    return f"{FERRETDB_VERSION}-authtrail.{FERRETDB_PATCH_SHA256[:8]}"


def ferretdb_patch() -> str:
    """The patch's text, once its sha256 matches the pin."""
    data = FERRETDB_PATCH.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != FERRETDB_PATCH_SHA256:
        raise StackError(
            f"{FERRETDB_PATCH} has sha256 {actual}, but scripts/stack/versions.py pins "
            f"{FERRETDB_PATCH_SHA256}: review the patch, then update FERRETDB_PATCH_SHA256"
        )
    return data.decode()
