"""The container deployment, checked as far as a machine without a Docker engine allows:
the compose file against the Compose specification and against the code, the Dockerfiles
against a linter, and both worlds against one settings module."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from authtrail.settings import PROJECT_ROOT, Settings, load_settings
from connect.sink.deploy import render_sink_config
from connect.transformer.properties import load_properties
from scripts.stack import versions
from scripts.stack.servers import STORE_INSERT_BATCH, Layout, stack_servers

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
CONNECT_DOCKERFILE = PROJECT_ROOT / "docker" / "connect.Dockerfile"
KAFKA_DOCKERFILE = PROJECT_ROOT / "docker" / "kafka.Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def authtrail_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose["services"].items()
        if s["image"].startswith("authtrail:") or s["image"].startswith("authtrail-cli:")
    }


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    # check-jsonschema vendors the Compose specification's own JSON schema (compose-spec).
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_authtrail_services_are_configured_only_through_settings(compose, monkeypatch) -> None:
    known = Settings.env_names()
    for name, service in authtrail_services(compose).items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name} sets variables the settings module does not read: {unknown}"
        with monkeypatch.context() as environment:  # read as the container reads them
            for variable, value in service["environment"].items():
                environment.setenv(variable, str(value))
            load_settings()


def test_ports_agree_between_servers_and_clients(compose) -> None:
    env = compose["x-authtrail-env"]
    services = compose["services"]
    assert urlsplit(env["AUTHTRAIL_SCHEMA_REGISTRY_URL"]).port == 8081
    assert "8081:8081" in services["schema-registry"]["ports"]
    assert urlsplit(env["AUTHTRAIL_CONNECT_URL"]).port == 8083
    assert (
        "listeners=http://0.0.0.0:8083" in (PROJECT_ROOT / "docker" / "connect-worker.properties").read_text()
    )
    assert urlsplit(env["AUTHTRAIL_MONGO_URI"]).port == 27017
    host, port = env["AUTHTRAIL_KAFKA_BOOTSTRAP_SERVERS"].split(":")
    assert f"PLAINTEXT://{host}:{port}" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    api = services["api"]
    default_port = Settings.model_fields["api_port"].default
    assert f"{default_port}:{api['environment']['AUTHTRAIL_API_PORT']}" in api["ports"]
    assert services["cli"]["environment"]["AUTHTRAIL_API_PORT"] == api["environment"]["AUTHTRAIL_API_PORT"]


def test_every_long_running_or_depended_on_service_has_a_healthcheck(compose) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency} to be healthy"
            elif condition["condition"] == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", f"{dependency} is a one-shot step"
        one_shot = service.get("restart") == "no" or "profiles" in service
        assert one_shot or "healthcheck" in service, f"{name} runs on without a healthcheck"


def test_every_image_is_pinned(compose) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned"
    for dockerfile in (DOCKERFILE, CONNECT_DOCKERFILE, KAFKA_DOCKERFILE):
        for base in re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE):
            assert re.search(r":[\w.-]+$", base), f"{dockerfile.name}: FROM {base} has no tag"
            assert not base.endswith(":latest"), f"{dockerfile.name}: FROM {base}"


def test_versions_in_containers_are_the_local_stacks(compose) -> None:
    connect = CONNECT_DOCKERFILE.read_text()
    assert f"FROM apache/kafka:{versions.kafka_version()}" in connect
    assert f"FROM apache/kafka:{versions.kafka_version()}" in KAFKA_DOCKERFILE.read_text()
    assert compose["services"]["kafka"]["build"]["dockerfile"] == "docker/kafka.Dockerfile"
    assert f"mongo-kafka-connect-{versions.mongo_connector_version()}-all.jar" in connect
    assert "--checksum=sha256:" in connect


def test_init_services_use_the_projects_own_connector_config_and_schemas(compose) -> None:
    dockerfile = DOCKERFILE.read_text()
    assert "COPY connect ./connect" in dockerfile  # the connector and transform configs, as package data
    assert "COPY schemas /app/schemas" in dockerfile
    assert "AUTHTRAIL_SCHEMAS_DIR=/app/schemas" in dockerfile
    commands = {name: s["command"][0] for name, s in compose["services"].items() if name.startswith("init-")}
    assert commands == {
        "init-topics": "create-topics",
        "init-schemas": "register-schemas",
        "init-connector": "deploy-connectors",
        "init-keys": "keys",
    }
    overridden = {"AUTHTRAIL_SCHEMAS_DIR", "AUTHTRAIL_CONNECTOR_CONFIG_FILE", "AUTHTRAIL_TRANSFORMS_FILE"}
    for name, service in authtrail_services(compose).items():
        assert not overridden & set(service.get("environment", {})), f"{name} points at other configs"


def test_the_container_and_the_readme_install_the_same_dependencies() -> None:
    """Both install from pyproject.toml and nothing else: the image its runtime dependencies,
    `make` the same plus the dev extras."""
    installs = re.findall(r"pip install ([^\n\\&]+)", DOCKERFILE.read_text())
    assert [i.strip() for i in installs] == [".", '--editable ".[dev]"']
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.findall(r"pip install --quiet (-e \S+)", makefile) == ["-e '.[dev]'"]
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make run" in readme
    assert not list(PROJECT_ROOT.glob("requirements*.txt")), "a second list of dependencies would drift"


@pytest.mark.parametrize(
    "dockerfile", [DOCKERFILE, CONNECT_DOCKERFILE, KAFKA_DOCKERFILE], ids=lambda p: p.name
)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_container_worker_is_configured_like_the_local_one(tmp_path: Path) -> None:
    settings = load_settings(stack_dir=tmp_path)
    connect = next(
        s for s in stack_servers(settings, _no_artifacts(tmp_path), Layout(tmp_path)) if s.name == "connect"
    )
    connect.prepare()
    local = load_properties(tmp_path / "connect" / "connect-distributed.properties")
    container = load_properties(PROJECT_ROOT / "docker" / "connect-worker.properties")
    addresses = {
        "bootstrap.servers",
        "listeners",
        "rest.advertised.host.name",
        "rest.advertised.port",
        "plugin.path",
    }
    assert set(local) == set(container)
    assert {k: v for k, v in local.items() if k not in addresses} == {
        k: v for k, v in container.items() if k not in addresses
    }


def test_the_local_store_commits_each_sink_batch_in_one_transaction(tmp_path: Path) -> None:
    settings = load_settings(stack_dir=tmp_path)
    store = next(
        s for s in stack_servers(settings, _no_artifacts(tmp_path), Layout(tmp_path)) if s.name == "store"
    )
    sink_batch = int(render_sink_config(settings)["consumer.override.max.poll.records"])
    [flag] = [arg for arg in store.argv if arg.startswith("--test-batch-size=")]
    assert int(flag.split("=")[1]) == STORE_INSERT_BATCH >= sink_batch


def _no_artifacts(root: Path) -> Any:
    from scripts.stack.artifacts import Artifacts

    return Artifacts(
        kafka_libs=root,
        connect_plugins=root,
        postgres_home=root,
        ferretdb=root,
        schema_registry=root,
        jmx_agent=root / "agent.jar",
    )
