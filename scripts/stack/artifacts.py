"""Fetch and build the local stack's servers once, into a per-user cache keyed by version.

* Maven Central (one ``mvn`` call on ``pom.xml``): Kafka broker + Connect jars, the
  MongoDB Kafka connector, PostgreSQL binaries for the Schema Registry's storage, the
  Prometheus JMX exporter's Java agent (sha256 pinned in ``versions.py``).
* Go module proxy: FerretDB and the AxonOps Schema Registry, built with the local Go (and,
  for the test suite only, Prometheus' promtool).
  FerretDB is built with the stack's pushdown patch (``ferretdb/pushdown.patch``, checksum
  pinned in ``versions.py``) and cached by release and patch hash.

Each artifact is complete only once its marker file exists, so an interrupted fetch is
redone rather than trusted. A file lock keeps two concurrent ``stack up`` runs from
building the same thing twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from authtrail.errors import StackError
from scripts.console import step
from scripts.stack import unified_diff, versions

MARKER = ".complete"


@dataclass(frozen=True)
class Artifacts:
    kafka_libs: Path
    connect_plugins: Path
    postgres_home: Path
    ferretdb: Path
    schema_registry: Path
    jmx_agent: Path  # the Prometheus JMX exporter's Java agent jar


def ensure_artifacts(cache_dir: Path) -> Artifacts:
    """Return the stack's artifacts, fetching or building only what the cache lacks."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        maven_out = cache_dir / "maven"
        kafka_libs = maven_out / f"kafka-{versions.kafka_version()}" / "libs"
        plugins = maven_out / f"connect-plugins-{versions.mongo_connector_version()}"
        postgres_jar_dir = maven_out / f"postgres-{versions.postgres_version()}"
        jmx_dir = maven_out / f"jmx-exporter-{versions.jmx_exporter_version()}"
        if not all(_complete(p) for p in (kafka_libs, plugins, postgres_jar_dir, jmx_dir)):
            _fetch_maven(cache_dir, maven_out)
            versions.check_jmx_agent(jmx_dir / versions.jmx_agent_jar_name())
            for path in (kafka_libs, plugins, postgres_jar_dir, jmx_dir):
                _mark(path)
        postgres_home = _extract_postgres(
            postgres_jar_dir, cache_dir / f"postgres-{versions.postgres_version()}"
        )
        return Artifacts(
            kafka_libs=kafka_libs,
            connect_plugins=plugins,
            postgres_home=postgres_home,
            ferretdb=_build_ferretdb(cache_dir),
            schema_registry=_build_registry(cache_dir),
            # Checked on every start, cached or not, as the FerretDB patch is.
            jmx_agent=versions.check_jmx_agent(jmx_dir / versions.jmx_agent_jar_name()),
        )


def _fetch_maven(cache_dir: Path, out: Path) -> None:
    mvn = _require_tool("mvn", "Maven")
    with step(
        f"fetching Kafka {versions.kafka_version()}, mongo-kafka-connect "
        f"{versions.mongo_connector_version()}, PostgreSQL {versions.postgres_version()} and the "
        f"JMX exporter {versions.jmx_exporter_version()} from Maven Central"
    ):
        _run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(versions.POM),
                f"-Dmaven.repo.local={cache_dir / 'm2'}",
                f"-Dauthtrail.out={out}",
                "generate-resources",
            ],
            what="mvn generate-resources (scripts/stack/pom.xml)",
        )


def _extract_postgres(jar_dir: Path, home: Path) -> Path:
    if _complete(home):
        return home
    jars = list(jar_dir.glob("embedded-postgres-binaries-*.jar"))
    if not jars:
        raise StackError(f"no PostgreSQL binaries jar in {jar_dir}")
    with step(f"unpacking PostgreSQL {versions.postgres_version()}"):
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        with zipfile.ZipFile(jars[0]) as jar:
            member = next(n for n in jar.namelist() if n.endswith(".txz"))
            with jar.open(member) as txz, tarfile.open(fileobj=txz, mode="r:xz") as tar:
                tar.extractall(home, filter="tar")
    _mark(home)
    return home


def _build_ferretdb(cache_dir: Path) -> Path:
    """FerretDB with the stack's pushdown patch, cached by (release, patch hash)."""
    versions.ferretdb_patch()  # an edited patch without an updated pin stops here, cached or not
    version = versions.ferretdb_build_version()
    binary = cache_dir / "bin" / f"ferretdb-{version}"
    if binary.exists():
        return binary
    with step(f"building FerretDB {version} (patched) with go (about a minute, once)"):
        _go_build(cache_dir, _ferretdb_source(cache_dir, patched=True), "./cmd/ferretdb", binary)
    return binary


def ferretdb_source(cache_dir: Path, patched: bool = True) -> Path:
    """The writable FerretDB source tree the stack builds (kept, so that FerretDB's own unit
    tests of the patched packages can run in it)."""
    with _locked(cache_dir / ".lock"):
        return _ferretdb_source(cache_dir, patched)


def reference_ferretdb(cache_dir: Path) -> Path:
    """FerretDB as released, without the patch: only the differential test uses it, as the
    reference the patched build must agree with. The stack never runs it."""
    binary = cache_dir / "bin" / f"ferretdb-{versions.FERRETDB_VERSION}"
    with _locked(cache_dir / ".lock"):
        if not binary.exists():
            with step(f"building FerretDB {versions.FERRETDB_VERSION} (unpatched reference) with go"):
                _go_build(cache_dir, _ferretdb_source(cache_dir, patched=False), "./cmd/ferretdb", binary)
    return binary


def _ferretdb_source(cache_dir: Path, patched: bool) -> Path:
    version = versions.ferretdb_build_version() if patched else versions.FERRETDB_VERSION
    patch = versions.ferretdb_patch() if patched else None
    workdir = cache_dir / "go-src" / f"ferretdb-{version}"
    if _complete(workdir):
        return workdir
    source = _go_download(cache_dir, versions.FERRETDB_MODULE, versions.FERRETDB_VERSION)
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(source, workdir)
    for path in workdir.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    if patch is not None:
        unified_diff.apply(patch, workdir)
    # Built as the main module, FerretDB embeds build/version/version.txt, which its release
    # tooling generates from git; the module zip does not carry it. It names the patch too.
    (workdir / "build" / "version" / "version.txt").write_text(version + "\n")
    _mark(workdir)
    return workdir


def go_env(cache_dir: Path) -> dict[str, str]:
    """The hermetic Go environment the stack builds with (for ``go test`` of the patch too)."""
    return _go_env(cache_dir)


def _build_registry(cache_dir: Path) -> Path:
    binary = cache_dir / "bin" / f"schema-registry-{versions.REGISTRY_VERSION}"
    if binary.exists():
        return binary
    with step(f"building AxonOps Schema Registry {versions.REGISTRY_VERSION} with go (once)"):
        # `go install module@version` would also ask the proxy for the module's version
        # list (a deprecation check), which the proxy refuses here; downloading the exact,
        # checksum-verified version and building it in place is the same build.
        source = _go_download(cache_dir, versions.REGISTRY_MODULE, versions.REGISTRY_VERSION)
        _go_build(cache_dir, source, "./cmd/schema-registry", binary)
    return binary


def promtool(cache_dir: Path) -> Path:
    """Prometheus' ``promtool`` (the suite lints metrics, rules and the scrape config with it),
    built once from the Go module proxy with only the service discovery the compose file's
    scrape config uses (DNS): the cloud plugins would triple the build, and a config naming
    a plugin the binary lacks fails to parse, so promtool checks exactly that."""
    binary = cache_dir / "bin" / f"promtool-{versions.PROMETHEUS_VERSION}-dns-sd"
    with _locked(cache_dir / ".lock"):
        if not binary.exists():
            with step(f"building promtool {versions.PROMETHEUS_VERSION} with go (a few minutes, once)"):
                source = _go_download(cache_dir, versions.PROMETHEUS_MODULE, versions.PROMETHEUS_VERSION)
                _go_build(cache_dir, source, "./cmd/promtool", binary, tags="remove_all_sd,enable_dns_sd")
    return binary


def _go_env(cache_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GOPATH": str(cache_dir / "go"),
        "GOCACHE": str(cache_dir / "go-build"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",  # a module zip may carry a go.work naming folders it does not (Prometheus)
        "CGO_ENABLED": "0",
    }


def _go_download(cache_dir: Path, module: str, version: str) -> Path:
    go = _require_tool("go", "Go")
    out = _run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        what=f"go mod download {module}@{version}",
        env=_go_env(cache_dir),
    )
    info = json.loads(out)
    if info.get("Error"):
        raise StackError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def _go_build(cache_dir: Path, workdir: Path, package: str, binary: Path, tags: str = "") -> None:
    go = _require_tool("go", "Go")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    _run(
        [go, "build", "-trimpath", "-buildvcs=false", f"-tags={tags}", "-o", str(partial), package],
        what=f"go build {package}",
        env=_go_env(cache_dir),
        cwd=workdir,
    )
    partial.rename(binary)


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise StackError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def _require_tool(name: str, label: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{label} ({name}) is not on PATH; the local stack needs it to fetch/build servers")
    return path


def _complete(path: Path) -> bool:
    return (path / MARKER).exists()


def _mark(path: Path) -> None:
    (path / MARKER).touch()


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
