"""Test harness: one real local stack per session, on ports of its own.

The test stack lives in ``.stack-test/`` on ports 1xxxx, so a developer's running stack
(``.stack/``, default ports) is never touched. ``AUTHTRAIL_STACK=external`` makes the
session reuse servers someone else runs (then the ``AUTHTRAIL_*`` addresses say where).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_STACK_ENV = {
    "AUTHTRAIL_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "AUTHTRAIL_KAFKA_CONTROLLER_PORT": "19093",
    "AUTHTRAIL_CONNECT_URL": "http://127.0.0.1:18083",
    "AUTHTRAIL_SCHEMA_REGISTRY_URL": "http://127.0.0.1:18081",
    "AUTHTRAIL_POSTGRES_PORT": "15433",
    "AUTHTRAIL_MONGO_URI": "mongodb://127.0.0.1:37017/",
    "AUTHTRAIL_API_PORT": "14000",
    "AUTHTRAIL_KAFKA_JMX_METRICS_PORT": "19414",
    "AUTHTRAIL_CONNECT_JMX_METRICS_PORT": "19415",
    "AUTHTRAIL_STACK_DIR": str(ROOT / ".stack-test"),
    "AUTHTRAIL_LOG_DIR": str(ROOT / ".stack-test" / "log"),
}
if os.environ.get("AUTHTRAIL_STACK") != "external":
    for _name, _value in TEST_STACK_ENV.items():
        os.environ.setdefault(_name, _value)

from authtrail.settings import Settings, load_settings  # noqa: E402 - after the env is set
from scripts.stack.control import LocalStack  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against servers someone else runs, tests that must stop or kill servers cannot run;
    they are skipped there, with the reason in the summary — never on the local stack."""
    if os.environ.get("AUTHTRAIL_STACK") != "external":
        return
    reason = "needs to start/stop/kill servers: run `make test` on the local stack"
    for item in items:
        if item.get_closest_marker("control"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def settings() -> Settings:

    return load_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    """The real servers, started once for the session from a clean slate."""
    local = LocalStack(settings)
    if settings.stack == "external":
        yield local
        return
    local.down(purge=True)
    local.up()
    yield local
    local.down()


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Leaked sockets or processes are reported against the test that leaked them, not against
    whichever test the garbage collector happens to run in later. What an app started by the
    test froze out of the collector's sight (``gc.freeze``) is given back to it first."""
    yield
    gc.unfreeze()
    gc.collect()


@pytest.fixture
def unique() -> str:
    """A fresh suffix for topic, group, database and connector names of one test."""
    return uuid.uuid4().hex[:10]
