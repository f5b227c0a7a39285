"""The Prometheus JMX exporter's agent in the Kafka JVMs, checked without a JVM: the rules of
scripts/stack/jmx/ name their metrics by the project's conventions (tests/support/metric_lint.py)
and each is documented; the local stack and both images run the same pinned agent with the same
rules on the ports the settings name, and Prometheus scrapes those ports. (The real exposition is
checked on the stack by tests/integration/test_jmx_metrics.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from authtrail.errors import StackError
from authtrail.settings import PROJECT_ROOT, Settings, load_settings
from scripts.stack import versions
from scripts.stack.artifacts import Artifacts
from scripts.stack.servers import Layout, stack_servers
from tests.conftest import TEST_STACK_ENV
from tests.support.metric_lint import problems

JVMS = {  # rules file → (server, port setting, Dockerfile, compose service, Prometheus job)
    "kafka.yml": ("kafka", "kafka_jmx_metrics_port", "kafka.Dockerfile", "kafka", "kafka"),
    "connect.yml": ("connect", "connect_jmx_metrics_port", "connect.Dockerfile", "connect", "kafka-connect"),
}
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"


def load_rules(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((versions.JMX_RULES / name).read_text())
    return loaded


def exposition_of(rules: dict[str, Any]) -> str:
    """What the agent would serve for these rules, one sample each, in the text format (as the
    agent writes it: a counter's HELP and TYPE name it with its ``_total``)."""
    lines = []
    for rule in rules["rules"]:
        name, kind = rule["name"], rule["type"].lower()
        labels = ",".join(f'{label}="x"' for label in rule.get("labels", {}))
        lines += [f"# HELP {name} {rule['help']}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} 1"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("rules_file", sorted(JVMS))
def test_the_rules_are_small_explicit_and_follow_the_conventions(rules_file: str) -> None:
    rules = load_rules(rules_file)
    assert rules["lowercaseOutputName"] is True
    assert rules["lowercaseOutputLabelNames"] is True
    assert rules["includeObjectNames"], "every bean of the JVM would be read on every scrape"
    for rule in rules["rules"]:
        assert set(rule) <= {"pattern", "name", "type", "help", "labels", "value", "valueFactor"}, rule
        assert {"pattern", "name", "type", "help"} <= set(rule), rule  # no catch-all, no untyped
        assert rule["type"] in ("GAUGE", "COUNTER"), rule
        assert rule["name"].endswith("_total") == (rule["type"] == "COUNTER"), rule["name"]
        assert "$" not in rule["name"], f"{rule['name']}: names are spelled out, not captured"
        attribute = rule["pattern"].split("><>")[1]
        if re.search(r"-ms: |Percentile: ", attribute):  # Kafka's times are in ms
            assert rule["name"].endswith("_seconds"), rule["name"]
            assert rule.get("valueFactor") == 0.001, f"{rule['name']}: milliseconds exported as seconds"
    assert problems(exposition_of(rules), jmx=True) == []
    by_name: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {}
    for rule in rules["rules"]:
        by_name.setdefault(rule["name"], set()).add(
            (rule["type"], rule["help"], tuple(sorted(rule.get("labels", {}))))
        )
    assert {name: len(kinds) for name, kinds in by_name.items() if len(kinds) > 1} == {}, (
        "a metric made by several rules has the same type, help and labels in each"
    )


@pytest.mark.parametrize("rules_file", sorted(JVMS))
def test_every_exported_metric_is_documented(rules_file: str) -> None:
    guide = OPERATIONS.read_text()
    undocumented = [r["name"] for r in load_rules(rules_file)["rules"] if f"`{r['name']}`" not in guide]
    assert undocumented == []


def test_the_ports_collide_with_nothing() -> None:
    defaults = Settings.model_construct()
    ports = [field.default for name, field in Settings.model_fields.items() if name.endswith("_port")]
    ports += [defaults.kafka_port, defaults.registry_port, defaults.connect_port, defaults.store_port]
    assert {defaults.kafka_jmx_metrics_port, defaults.connect_jmx_metrics_port} == {9414, 9415}
    assert len(set(ports)) == len(ports), sorted(ports)
    test_ports = [
        int(value.rstrip("/").rsplit(":", 1)[-1])
        for name, value in TEST_STACK_ENV.items()
        if name.endswith(("_PORT", "_URL", "_SERVERS", "_URI"))
    ]
    assert {19414, 19415} <= set(test_ports)
    assert len(set(test_ports)) == len(test_ports), sorted(test_ports)


@pytest.mark.parametrize("rules_file", sorted(JVMS))
def test_the_local_stack_starts_the_jvm_with_its_agent(rules_file: str, tmp_path: Path) -> None:
    server_name, port_setting, *_ = JVMS[rules_file]
    jar = tmp_path / versions.jmx_agent_jar_name()
    settings = load_settings(stack_dir=tmp_path)
    port = getattr(settings, port_setting)
    argv = server_argv(settings, tmp_path, jar, server_name)
    agent = f"-javaagent:{jar}={settings.metrics_host}:{port}:{versions.JMX_RULES / rules_file}"
    assert agent in argv
    assert argv.index(agent) < argv.index("-cp"), "a JVM option, before the class path and main class"
    without = server_argv(settings.model_copy(update={port_setting: 0}), tmp_path, jar, server_name)
    assert not [arg for arg in without if arg.startswith("-javaagent")]


@pytest.mark.parametrize("rules_file", sorted(JVMS))
def test_the_images_run_the_same_pinned_agent_with_the_same_rules(rules_file: str) -> None:
    _, port_setting, dockerfile, service, job = JVMS[rules_file]
    text = (PROJECT_ROOT / "docker" / dockerfile).read_text()
    jar = versions.jmx_agent_jar_name()
    version = versions.jmx_exporter_version()
    assert f"--checksum=sha256:{versions.JMX_EXPORTER_SHA256}" in text
    assert f"io/prometheus/jmx/jmx_prometheus_javaagent/{version}/{jar}" in text
    assert f"COPY --chmod=644 scripts/stack/jmx/{rules_file} /opt/jmx-exporter/{rules_file}" in text
    port = Settings.model_fields[port_setting].default
    assert f"-javaagent:/opt/jmx-exporter/{jar}={port}:/opt/jmx-exporter/{rules_file}" in text
    assert "ENV KAFKA_OPTS" not in text, "in the environment, every exec'd Kafka tool would start an agent"
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert compose["services"][service]["build"]["dockerfile"] == f"docker/{dockerfile}"
    assert not [p for p in compose["services"][service].get("ports", []) if str(port) in str(p)]
    prometheus = yaml.safe_load((PROJECT_ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    [scrape] = [j for j in prometheus["scrape_configs"] if j["job_name"] == job]
    assert scrape["static_configs"] == [{"targets": [f"{service}:{port}"]}]


def test_the_pom_fetches_the_pinned_agent_and_the_pin_guards_the_jar(tmp_path: Path) -> None:
    assert versions.jmx_exporter_version() == "1.0.1"
    assert "<artifactId>jmx_prometheus_javaagent</artifactId>" in versions.POM.read_text()
    tampered = tmp_path / versions.jmx_agent_jar_name()
    tampered.write_bytes(b"not the agent")
    with pytest.raises(StackError, match="JMX_EXPORTER_SHA256"):
        versions.check_jmx_agent(tampered)


def server_argv(settings: Settings, root: Path, jar: Path, name: str) -> list[str]:
    artifacts = Artifacts(
        kafka_libs=root,
        connect_plugins=root,
        postgres_home=root,
        ferretdb=root,
        schema_registry=root,
        jmx_agent=jar,
    )
    return next(s for s in stack_servers(settings, artifacts, Layout(root)) if s.name == name).argv
