"""Metric names and labels held to Prometheus conventions, read back from the exposition text
with ``prometheus_client``'s own parser — fast, without a server, and stricter than
``promtool check metrics`` (which tests/integration/test_promtool.py runs too) by authtrail's
own rules:

* snake_case names, ``authtrail_<component>_`` prefix; help text on every family (the Kafka
  JVMs' JMX exporter agents: ``kafka_<connect|server|controller|network>_``, with ``jmx=True``);
* counters end in ``_total`` and nothing else does; no ``_count``/``_sum``/``_bucket`` names;
* base units only (``_seconds``, ``_bytes``; ``_records`` is ours), never ms, minutes, kB…;
  histograms name their unit;
* label names snake_case, not reserved (``le``, ``quantile``, ``__…``), and never an
  unbounded identity (a user, event, key or company id).
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
COMPONENTS = ("api", "transformer", "sink_watch", "sealer")
# The families the JMX exporter rules of scripts/stack/jmx/ make (the agent's own jvm_*, jmx_* and
# process_* are the exporter's, like prometheus_client's process_* and python_*).
JMX_COMPONENTS = ("connect", "server", "controller", "network")
NON_BASE_UNITS = (
    "milliseconds",
    "microseconds",
    "nanoseconds",
    "ms",
    "minutes",
    "hours",
    "days",
    "kilobytes",
    "megabytes",
    "gigabytes",
    "bits",
    "percent",
)
HISTOGRAM_UNITS = ("_seconds", "_bytes", "_records")
UNBOUNDED_LABELS = {"id", "event_id", "user_id", "key_id", "company_id", "resource_id", "path", "offset"}


def problems(exposition: str, jmx: bool = False) -> list[str]:
    """Every convention the authtrail metrics of ``exposition`` break (empty: all good);
    ``jmx``: the ``kafka_…`` metrics of a JMX exporter agent's exposition instead."""
    found: list[str] = []
    system, components = ("kafka", JMX_COMPONENTS) if jmx else ("authtrail", COMPONENTS)
    for family in text_string_to_metric_families(exposition):
        name = family.name
        if not name.startswith(f"{system}_"):
            continue  # process_* and python_*: prometheus_client's own
        where = f"{name} ({family.type})"
        if not SNAKE.match(name) or "__" in name:
            found.append(f"{where}: not snake_case")
        if not any(name.startswith(f"{system}_{c}_") for c in components):
            found.append(f"{where}: not {system}_<{'|'.join(components)}>_…")
        if not family.documentation.strip():
            found.append(f"{where}: no help text")
        for unit in NON_BASE_UNITS:
            if unit in name.split("_"):
                found.append(f"{where}: non-base unit {unit!r} (use seconds/bytes)")
        if family.type != "counter" and name.endswith("_total"):
            found.append(f"{where}: only counters end in _total")
        if name.endswith(("_count", "_sum", "_bucket", "_created")):
            found.append(f"{where}: reserved suffix")
        if family.type == "histogram" and not name.endswith(HISTOGRAM_UNITS):
            found.append(f"{where}: a histogram names its unit ({', '.join(HISTOGRAM_UNITS)})")
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith(("_total", "_created")):
                found.append(f"{where}: counter sample {sample.name} does not end in _total")
            for label in sample.labels:
                if label in ("le", "quantile") and family.type in ("histogram", "summary"):
                    continue
                if not SNAKE.match(label) or label in ("le", "quantile"):
                    found.append(f"{where}: label {label!r} is reserved or not snake_case")
                if label in UNBOUNDED_LABELS:
                    found.append(f"{where}: label {label!r} is unbounded")
    return sorted(set(found))


def authtrail_names(exposition: str) -> set[str]:
    """The authtrail families of ``exposition`` (counters without ``_total``, as parsed)."""
    return {f.name for f in text_string_to_metric_families(exposition) if f.name.startswith("authtrail_")}
