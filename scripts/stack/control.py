"""``authtrail stack up | down | status | logs``: the local stack as one unit."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

import psutil

from authtrail.errors import StackError
from authtrail.logs import get_logger
from authtrail.settings import Settings
from authtrail.waiting import wait_until
from scripts.console import step
from scripts.stack.artifacts import Artifacts, ensure_artifacts
from scripts.stack.processes import ProcessTable
from scripts.stack.servers import SERVER_NAMES, Layout, Server, port_in_use, stack_servers

log = get_logger(__name__)
POLL_S = 0.25


@dataclass(frozen=True)
class ServerStatus:
    name: str
    version: str
    pid: int | None
    port: int
    state: str  # "ready" | "not ready" | "stopped"
    rss_mb: float
    log: str


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.stack_dir)
        self.processes = ProcessTable(self.layout.run)
        self._artifacts: Artifacts | None = None

    def artifacts(self) -> Artifacts:
        if self._artifacts is None:
            self._artifacts = ensure_artifacts(self.settings.cache_dir)
        return self._artifacts

    def servers(self) -> list[Server]:
        return stack_servers(self.settings, self.artifacts(), self.layout)

    def server(self, name: str) -> Server:
        for server in self.servers():
            if server.name == name:
                return server
        raise StackError(f"no server named {name!r}; the stack has {', '.join(SERVER_NAMES)}")

    # --- up -----------------------------------------------------------------------------
    def up(self) -> list[ServerStatus]:
        """Start every server that is not already running and wait until all are ready."""
        servers = self.servers()
        self._check_ports_free(servers)
        deadline = time.monotonic() + self.settings.stack_start_timeout_s
        for server in servers:
            for dependency in server.after:
                self._wait_ready(self.server_by(servers, dependency), deadline)
            self._start(server)
        for server in servers:
            self._wait_ready(server, deadline)
        return self.status()

    def start(self, name: str) -> None:
        """Start one server (after a fault test stopped it) and wait until it is ready."""
        server = self.server(name)
        self._start(server)
        self._wait_ready(server, time.monotonic() + self.settings.stack_start_timeout_s)

    def _start(self, server: Server) -> None:
        if self.processes.running(server.name):
            log.info("server already running", server=server.name)
            return
        server.prepare()
        env = {**os.environ, **server.env} if server.env else None
        tracked = self.processes.start(server.name, server.argv, self.layout.log(server.name), env=env)
        log.info("server started", server=server.name, pid=tracked.pid, port=server.port)

    def _wait_ready(self, server: Server, deadline: float) -> None:
        if server.ready():
            return

        def ready() -> bool:
            if self.processes.running(server.name) is None:
                raise StackError(self._failure(server, "exited during start-up"))
            return server.ready()

        with step(f"waiting for {server.name} on port {server.port}"):
            if not wait_until(ready, max(0.0, deadline - time.monotonic()), POLL_S):
                raise StackError(
                    self._failure(server, f"not ready within {self.settings.stack_start_timeout_s:.0f}s")
                )

    def _check_ports_free(self, servers: list[Server]) -> None:
        ports = [(s.name, s.port) for s in servers]
        ports.append(("kafka (controller)", self.settings.kafka_controller_port))
        # The JMX exporter agents' ports: a JVM whose agent cannot bind exits at once.
        for name, port in (
            ("kafka (metrics, AUTHTRAIL_KAFKA_JMX_METRICS_PORT)", self.settings.kafka_jmx_metrics_port),
            ("connect (metrics, AUTHTRAIL_CONNECT_JMX_METRICS_PORT)", self.settings.connect_jmx_metrics_port),
        ):
            if port:
                ports.append((name, port))
        for name, port in ports:
            owner = name.split(" ")[0]
            if self.processes.running(owner) is None and port_in_use(port):
                raise StackError(
                    f"{name} cannot start: port {port} is already in use by a process this stack "
                    f"did not start (log: {self.layout.log(owner)})"
                )

    def _failure(self, server: Server, what: str) -> str:
        log_path = self.layout.log(server.name)
        tail = ""
        if log_path.exists():
            lines = log_path.read_text(errors="replace").splitlines()[-15:]
            tail = "\n  | ".join(["", *lines])
        return f"{server.name} {what}; its log is {log_path}{tail}"

    @staticmethod
    def server_by(servers: list[Server], name: str) -> Server:
        return next(s for s in servers if s.name == name)

    # --- down ---------------------------------------------------------------------------
    def down(self, purge: bool = False) -> list[str]:
        """Stop the processes this stack started (reverse order); keep data unless purged."""
        stopped = [name for name in reversed(SERVER_NAMES) if self.processes.stop(name)]
        for name in stopped:
            log.info("server stopped", server=name)
        if purge:
            shutil.rmtree(self.layout.root, ignore_errors=True)
            log.info("stack data purged", path=str(self.layout.root))
        return stopped

    def stop(self, name: str) -> None:
        self.processes.stop(name)

    def kill(self, name: str) -> None:
        self.processes.kill(name)

    # --- status / logs ----------------------------------------------------------------------
    def status(self) -> list[ServerStatus]:
        rows = []
        for server in self.servers():
            tracked = self.processes.running(server.name)
            state = "stopped" if tracked is None else ("ready" if server.ready() else "not ready")
            rows.append(
                ServerStatus(
                    name=server.name,
                    version=server.version,
                    pid=tracked.pid if tracked else None,
                    port=server.port,
                    state=state,
                    rss_mb=round(_tree_rss(tracked.pid) / 2**20, 1) if tracked else 0.0,
                    log=str(self.layout.log(server.name)),
                )
            )
        return rows

    def log_path(self, name: str) -> str:
        if name not in SERVER_NAMES:
            raise StackError(f"no server named {name!r}; the stack has {', '.join(SERVER_NAMES)}")
        return str(self.layout.log(name))


def _tree_rss(pid: int) -> int:
    try:
        process = psutil.Process(pid)
        return int(process.memory_info().rss) + sum(
            int(child.memory_info().rss) for child in process.children(recursive=True)
        )
    except psutil.Error:
        return 0
