"""The servers of the local stack: how each is prepared, started and known to be ready.

Everything listens on loopback; ports come from :class:`authtrail.settings.Settings`.
Runtime data and logs live under ``settings.stack_dir``; binaries come from the cache.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import struct
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient
from pymongo import MongoClient

from authtrail.errors import StackError
from authtrail.settings import Settings
from authtrail.waiting import http_ok
from scripts.stack import versions
from scripts.stack.artifacts import Artifacts

LOOPBACK = "127.0.0.1"
# Probes answer within a second or say "not yet": `up` polls them until its deadline.
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Server:
    name: str
    version: str
    port: int
    argv: list[str]
    ready: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    env: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()


class Layout:
    """Where one stack keeps its data, configs and logs."""

    def __init__(self, stack_dir: Path) -> None:
        self.root = stack_dir
        self.run = stack_dir / "run"
        self.logs = stack_dir / "logs"

    def data(self, name: str) -> Path:
        return self.root / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def stack_servers(settings: Settings, artifacts: Artifacts, layout: Layout) -> list[Server]:
    """The servers in start order; ``after`` names the ones each needs ready first."""
    return [
        _postgres(settings, artifacts, layout),
        _kafka(settings, artifacts, layout),
        _store(settings, artifacts, layout),
        _registry(settings, artifacts, layout),
        _connect(settings, artifacts, layout),
    ]


SERVER_NAMES = ("postgres", "kafka", "store", "registry", "connect")


# --- Kafka broker (KRaft, single node) ----------------------------------------------------
def _kafka(settings: Settings, artifacts: Artifacts, layout: Layout) -> Server:
    home = layout.data("kafka")
    config = home / "server.properties"

    def prepare() -> None:
        _write_java_config(
            config,
            {
                "process.roles": "broker,controller",
                "node.id": "1",
                "controller.quorum.voters": f"1@{LOOPBACK}:{settings.kafka_controller_port}",
                "listeners": f"PLAINTEXT://{LOOPBACK}:{settings.kafka_port},"
                f"CONTROLLER://{LOOPBACK}:{settings.kafka_controller_port}",
                "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{settings.kafka_port}",
                "controller.listener.names": "CONTROLLER",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name": "PLAINTEXT",
                "log.dirs": str(home / "data"),
                # Topics are created explicitly by authtrail with their intended partitions.
                "auto.create.topics.enable": "false",
                "offsets.topic.replication.factor": "1",
                "offsets.topic.num.partitions": "10",
                "transaction.state.log.replication.factor": "1",
                "transaction.state.log.min.isr": "1",
                "transaction.state.log.num.partitions": "5",
                "share.coordinator.state.topic.replication.factor": "1",
                "group.initial.rebalance.delay.ms": "0",
            },
        )
        if not (home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            _run_java(
                artifacts,
                settings.kafka_heap,
                home,
                ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)],
                "kafka-storage format",
            )

    return Server(
        name="kafka",
        version=versions.kafka_version(),
        port=settings.kafka_port,
        argv=_java_argv(
            artifacts,
            settings.kafka_heap,
            home,
            ["kafka.Kafka", str(config)],
            _jmx_agent(settings, artifacts, settings.kafka_jmx_metrics_port, "kafka.yml"),
        ),
        ready=lambda: _kafka_ready(settings),
        prepare=prepare,
    )


def _kafka_ready(settings: Settings) -> bool:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=PROBE_TIMEOUT_S)
    except Exception:
        return False
    return bool(metadata.brokers)


# --- Kafka Connect (distributed mode) with the MongoDB connector ---------------------------
MONGO_SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"


def _connect(settings: Settings, artifacts: Artifacts, layout: Layout) -> Server:
    home = layout.data("connect")
    config = home / "connect-distributed.properties"

    def prepare() -> None:
        _write_java_config(
            config,
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": "authtrail-connect",
                "config.storage.topic": "_authtrail_connect_configs",
                "offset.storage.topic": "_authtrail_connect_offsets",
                "status.storage.topic": "_authtrail_connect_status",
                "config.storage.replication.factor": str(settings.topic_replication_factor),
                "offset.storage.replication.factor": str(settings.topic_replication_factor),
                "status.storage.replication.factor": str(settings.topic_replication_factor),
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
                "listeners": f"http://{LOOPBACK}:{settings.connect_port}",
                "rest.advertised.host.name": LOOPBACK,
                "rest.advertised.port": str(settings.connect_port),
                "plugin.path": str(artifacts.connect_plugins),
                # Sink offsets are committed every second: less to redo after a crash.
                "offset.flush.interval.ms": "1000",
                # Lets connector configs tune their own consumer (consumer.override.*).
                "connector.client.config.override.policy": "All",
                # A worker that drops out of the group (the broker or the worker stalled past the
                # session timeout) rejoins as a new member; by default its sink tasks are then held
                # unassigned for up to 5 minutes in case the "departed" worker comes back, and
                # nothing is stored meanwhile. The sink's writes are idempotent and moving a task
                # costs a rebalance: reassign lost tasks at once (KAFKA-15693, Kafka 3.7+).
                "scheduled.rebalance.max.delay.ms": "0",
            },
        )

    return Server(
        name="connect",
        version=versions.kafka_version(),
        port=settings.connect_port,
        argv=_java_argv(
            artifacts,
            settings.connect_heap,
            home,
            ["org.apache.kafka.connect.cli.ConnectDistributed", str(config)],
            _jmx_agent(settings, artifacts, settings.connect_jmx_metrics_port, "connect.yml"),
        ),
        ready=lambda: _connect_ready(settings),
        prepare=prepare,
        after=("kafka",),
    )


def _connect_ready(settings: Settings) -> bool:
    try:
        response = httpx.get(f"{settings.connect_url}/connector-plugins", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and any(p.get("class") == MONGO_SINK_CLASS for p in response.json())


# --- PostgreSQL: storage of the Schema Registry and of FerretDB ----------------------------
POSTGRES_USER = "authtrail"
REGISTRY_DATABASE = "schema_registry"
STORE_DATABASE = "ferretdb"


def _postgres(settings: Settings, artifacts: Artifacts, layout: Layout) -> Server:
    data = layout.data("postgres")
    bin_dir = artifacts.postgres_home / "bin"

    def prepare() -> None:
        if (data / "PG_VERSION").exists():
            return
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        _run_postgres_tool(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                POSTGRES_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                # Strings compare bytewise, as in MongoDB: the patched FerretDB sorts by _id and
                # compares strings in PostgreSQL only on such a database.
                "--locale=C",
                "--no-instructions",
            ],
            "initdb",
        )
        # Single-user mode creates the databases without a client binary (zonky ships none).
        _run_postgres_tool(
            [str(bin_dir / "postgres"), "--single", "-D", str(data), "postgres"],
            "creating databases",
            stdin=f"CREATE DATABASE {REGISTRY_DATABASE};\nCREATE DATABASE {STORE_DATABASE};\n",
        )

    return Server(
        name="postgres",
        version=versions.postgres_version(),
        port=settings.postgres_port,
        argv=[
            *_as_unprivileged(),
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(settings.postgres_port),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-k",
            "",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "max_connections=100",
            # Every commit waits for its WAL on disk (PostgreSQL's default, said here because
            # it is the promise): the sink commits its Kafka offsets once the store acknowledged
            # a write, so a commit a crash can lose is an event lost for good. With
            # synchronous_commit=off a kill -9 of PostgreSQL mid-stream lost 126 and 134 of
            # 20,000 acknowledged events (tests/integration/test_faults.py::test_postgres_killed).
            "-c",
            "synchronous_commit=on",
            # FerretDB sends every query as a prepared statement; planning one of the pushdown
            # patch's (type-guarded expressions on every key) costs more than running it on an
            # index. PostgreSQL's default re-plans with the values whenever it guesses a
            # generic plan worse — a keyset page's time bound, never an equality — so such
            # pages paid ~1.5 ms of planning a request. Every pushed-down query is an index
            # walk in the index's order whatever the values: plan each shape once.
            "-c",
            "plan_cache_mode=force_generic_plan",
        ],
        ready=lambda: _postgres_accepting(settings.postgres_port),
        prepare=prepare,
    )


def _postgres_accepting(port: int) -> bool:
    """What pg_isready checks: the server answers a startup message with an authentication
    request ('R'), not an error such as "the database system is starting up" — after an unclean
    stop, PostgreSQL listens during crash recovery, long before it accepts connections."""
    parameters = f"user\0{POSTGRES_USER}\0database\0postgres\0\0".encode()
    startup = struct.pack("!II", 8 + len(parameters), 3 << 16) + parameters  # protocol 3.0
    try:
        with socket.create_connection((LOOPBACK, port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(startup)
            return sock.recv(1) == b"R"
    except OSError:
        return False


def _run_postgres_tool(argv: list[str], what: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [*_as_unprivileged(), *argv], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or "ERROR" in result.stdout:
        raise StackError(f"postgres {what} failed: {(result.stdout + result.stderr).strip()[-800:]}")


def _as_unprivileged() -> list[str]:
    """PostgreSQL refuses to run as root. As root, run it in a user namespace where it
    sees an unprivileged uid, while its files stay root's (so the cache under a private
    home stays readable). Not root: nothing to do."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise StackError("running as root needs `unshare` (util-linux) to start PostgreSQL unprivileged")
    return [unshare, "--user", "--map-user=65534", "--map-group=65534", "--"]


# --- AxonOps Schema Registry ------------------------------------------------------------
def _registry(settings: Settings, artifacts: Artifacts, layout: Layout) -> Server:
    home = layout.data("registry")
    config = home / "config.yaml"

    def prepare() -> None:
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(
            "server:\n"
            f'  host: "{LOOPBACK}"\n'
            f"  port: {settings.registry_port}\n"
            "storage:\n"
            "  type: postgresql\n"
            "  postgresql:\n"
            f"    host: {LOOPBACK}\n"
            f"    port: {settings.postgres_port}\n"
            f"    database: {REGISTRY_DATABASE}\n"
            f"    user: {POSTGRES_USER}\n"
            f"    password: {POSTGRES_USER}\n"
            "    ssl_mode: disable\n"
            "    max_open_conns: 10\n"
            "    max_idle_conns: 2\n"
            "compatibility:\n"
            "  default_level: BACKWARD\n"
            "logging:\n"
            "  level: info\n"
            "  format: json\n"
            "security:\n"
            "  auth:\n"
            "    enabled: false\n"
        )

    return Server(
        name="registry",
        version=versions.REGISTRY_VERSION,
        port=settings.registry_port,
        argv=[str(artifacts.schema_registry), "-config", str(config)],
        ready=lambda: http_ok(f"{settings.schema_registry_url}/subjects", timeout_s=PROBE_TIMEOUT_S),
        prepare=prepare,
        after=("postgres",),
    )


# --- FerretDB (MongoDB wire protocol) on PostgreSQL (or SQLite) ------------------------------
# Go's collector at its default (100) ran a fifth of a large read's CPU time: reading 1,000
# events took 41 ms at 100, 37 at 200, 34 at 400 (RSS 36 → 44 MB), 35 at 800 (69 MB).
STORE_GOGC = "400"
# FerretDB splits an insert command into transactions of this many documents (its default: 100).
# Each transaction commits durably (one WAL flush), so a sink batch of up to 2,000 records
# (``max.poll.records`` in connect/sink/mongo-sink.json) paid up to 20 commits. One transaction
# a batch, side by side (docs/benchmarks.md, *max-throughput*): end to end +19 %, the sink +6 %.
# A batch that fails (a duplicate) is retried document by document, as before.
STORE_INSERT_BATCH = 2000


def _store(settings: Settings, artifacts: Artifacts, layout: Layout) -> Server:
    data = layout.data("store")
    backend = (
        [f"--postgresql-url=postgres://{POSTGRES_USER}@{LOOPBACK}:{settings.postgres_port}/{STORE_DATABASE}"]
        if settings.store_backend == "postgresql"
        else [f"--sqlite-url=file:{data}/"]
    )

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)

    return Server(
        name="store",
        version=f"{versions.ferretdb_build_version()} ({settings.store_backend})",
        port=settings.store_port,
        argv=[
            str(artifacts.ferretdb),
            f"--handler={settings.store_backend}",
            *backend,
            f"--state-dir={data}",
            f"--listen-addr={LOOPBACK}:{settings.store_port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
            f"--test-batch-size={STORE_INSERT_BATCH}",
        ],
        ready=lambda: _store_ready(settings),
        prepare=prepare,
        env={"GOGC": STORE_GOGC},
        after=("postgres",) if settings.store_backend == "postgresql" else (),
    )


def _store_ready(settings: Settings) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://{LOOPBACK}:{settings.store_port}/",
        serverSelectionTimeoutMS=int(PROBE_TIMEOUT_S * 1000),
        connectTimeoutMS=int(PROBE_TIMEOUT_S * 1000),
    )
    try:
        client.admin.command("ping")
    except Exception:
        return False
    finally:
        client.close()
    return True


# --- helpers -----------------------------------------------------------------------------
def _jmx_agent(settings: Settings, artifacts: Artifacts, port: int, rules: str) -> list[str]:
    """The Prometheus JMX exporter's Java agent serving this JVM's metrics (the rules of
    ``scripts/stack/jmx/<rules>``) on ``metrics_host:port``; nothing when the port is 0."""
    if not port:
        return []
    return [f"-javaagent:{artifacts.jmx_agent}={settings.metrics_host}:{port}:{versions.JMX_RULES / rules}"]


def _java_argv(
    artifacts: Artifacts, heap: str, home: Path, main: list[str], options: list[str] | None = None
) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise StackError("java is not on PATH; Kafka and Kafka Connect need Java 17")
    return [
        java,
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
        *(options or []),
        "-cp",
        f"{artifacts.kafka_libs}/*",
        *main,
    ]


def _run_java(artifacts: Artifacts, heap: str, home: Path, main: list[str], what: str) -> None:
    result = subprocess.run(
        _java_argv(artifacts, heap, home, main), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(f"{what} failed: {(result.stdout + result.stderr).strip()[-800:]}")


def _write_log4j(home: Path) -> None:
    (home / "log4j2.properties").write_text(
        "status = warn\n"
        "appender.stdout.type = Console\n"
        "appender.stdout.name = STDOUT\n"
        "appender.stdout.layout.type = PatternLayout\n"
        "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "logger.kafka.name = org.apache.kafka\n"
        "logger.kafka.level = INFO\n"
        "logger.reflections.name = org.reflections\n"
        "logger.reflections.level = ERROR\n"
    )


def _write_java_config(path: Path, values: dict[str, str]) -> None:
    """A Java server's ``.properties`` file, and the log4j config beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_log4j(path.parent)
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_S)
        return sock.connect_ex((LOOPBACK, port)) == 0


def port_in_use(port: int) -> bool:
    return _port_open(port)
