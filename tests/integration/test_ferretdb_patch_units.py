"""FerretDB's own unit tests of the packages the stack's pushdown patch touches, run on the
patched source tree the stack builds, with the same hermetic Go environment.

Some of them need a PostgreSQL server where FerretDB's test helpers look for one
(``postgres://username@127.0.0.1:5432/ferretdb``): a throwaway cluster from the stack's own
PostgreSQL binaries is started there for the duration of the run.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from authtrail.settings import Settings
from scripts.stack.artifacts import ferretdb_source, go_env
from scripts.stack.control import LocalStack
from scripts.stack.servers import port_in_use

pytestmark = pytest.mark.stack

GO_TEST_PORT = 5432  # fixed by FerretDB's testutil.TestPostgreSQLURI
READY_TIMEOUT_S = 30.0
GO_TEST_TIMEOUT_S = 540
SERVER_OPTIONS = ["-c", "listen_addresses=127.0.0.1", "-k", "", "-c", "max_connections=200"]
PACKAGES = [
    "./internal/backends/",
    "./internal/backends/postgresql/",
    "./internal/backends/postgresql/metadata/",
    "./internal/clientconn/",
    "./internal/handler/",
    "./internal/handler/common/",
    "./internal/handler/sjson/",
]


def _unprivileged() -> list[str]:
    from scripts.stack.servers import _as_unprivileged

    return _as_unprivileged()


def _accepting(port: int) -> bool:
    from scripts.stack.servers import _postgres_accepting

    return _postgres_accepting(port)


@pytest.fixture
def go_test_postgres(stack: LocalStack, settings: Settings) -> Iterator[None]:
    if port_in_use(GO_TEST_PORT):
        pytest.fail(f"port {GO_TEST_PORT} is in use; FerretDB's unit tests need it for their PostgreSQL")
    bin_dir = stack.artifacts().postgres_home / "bin"
    data = settings.stack_dir / "go-test-postgres"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    run = _unprivileged()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "username", "--auth=trust", "-E", "UTF8"]
    subprocess.run(
        [*run, *initdb, "--locale=C", "--no-instructions"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*run, str(bin_dir / "postgres"), "--single", "-D", str(data), "postgres"],
        input=b"CREATE DATABASE ferretdb;\n",
        check=True,
        capture_output=True,
    )
    log = (settings.stack_dir / "go-test-postgres.log").open("wb")
    server = subprocess.Popen(
        [*run, str(bin_dir / "postgres"), "-D", str(data), "-p", str(GO_TEST_PORT), *SERVER_OPTIONS],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _accepting(GO_TEST_PORT):
            assert server.poll() is None, "the PostgreSQL for FerretDB's unit tests exited"
            assert time.monotonic() < deadline, "the PostgreSQL for FerretDB's unit tests did not start"
            time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=READY_TIMEOUT_S)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def test_ferretdb_unit_tests_pass_on_the_patched_source(go_test_postgres: None, settings: Settings) -> None:
    go = shutil.which("go")
    assert go is not None, "Go is needed to build the stack, and to test its FerretDB patch"
    source: Path = ferretdb_source(settings.cache_dir)
    # FerretDB's testutil finds the repository root by its .git; the module zip has none
    # (the stack builds with -buildvcs=false, so an empty one changes nothing else)
    (source / ".git").mkdir(exist_ok=True)
    result = subprocess.run(
        # ferretdb_debug: as FerretDB's own CI builds its tests (some check debug-only paths).
        # TestVersion pins the PostgreSQL release of FerretDB's CI (16.9); the stack runs 17.
        [go, "test", "-tags=ferretdb_debug", "-count=1", "-timeout=8m", "-skip=^TestVersion$", *PACKAGES],
        cwd=source,
        env=go_env(settings.cache_dir),
        capture_output=True,
        text=True,
        timeout=GO_TEST_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
