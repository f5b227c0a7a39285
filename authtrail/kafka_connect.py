"""Kafka Connect's REST API, for one connector: what authtrail asks of the worker.

Errors reaching the worker become :class:`DependencyUnavailableError`; answers the worker
gives but authtrail did not expect become :class:`ConnectRequestError` with Connect's message.
Sink offsets use KIP-875 (Kafka 3.6+): read at any time, altered only while the connector is
STOPPED; for a sink connector they are its consumer group's committed offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.logs import get_logger
from authtrail.waiting import wait_until

log = get_logger(__name__)

POLL_S = 0.5


class ConnectRequestError(AuthtrailError):
    """Kafka Connect answered, but refused or failed the request."""


class ConnectorFailedError(ConnectRequestError):
    """The connector or one of its tasks failed (or did not start in time); carries Connect's trace."""


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    state: str  # RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING
    tasks: list[dict[str, Any]]

    @property
    def failed_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t.get("state") == "FAILED"]

    @property
    def running(self) -> bool:
        return (
            self.state == "RUNNING" and bool(self.tasks) and all(t["state"] == "RUNNING" for t in self.tasks)
        )

    @property
    def trace(self) -> str:
        failed = self.failed_tasks
        return (failed[0].get("trace") if failed else "") or ""

    def first_trace_line(self) -> str:
        return self.trace.splitlines()[0][:300] if self.trace else ""

    def summary(self) -> str:
        return f"connector {self.state}, tasks " + (", ".join(t["state"] for t in self.tasks) or "none")


class ConnectorClient:
    def __init__(self, connect_url: str, name: str, timeout_s: float = 10.0) -> None:
        self.name = name
        self._base = f"{connect_url}/connectors/{name}"
        self._timeout_s = timeout_s

    def status(self) -> ConnectorStatus | None:
        """The connector's state, or None if it does not exist."""
        response = self._request("GET", "/status", allow_404=True)
        if response is None:
            return None
        body = response.json()
        return ConnectorStatus(name=self.name, state=body["connector"]["state"], tasks=body.get("tasks", []))

    def deploy(self, config: dict[str, str], timeout_s: float = 120.0) -> ConnectorStatus:
        """Create the connector or update its config in place (``PUT …/config`` is idempotent),
        then wait until it and every task run."""
        response = self._request("PUT", "/config", json=config, timeout=30)
        assert response is not None
        log.info("connector config applied", connector=self.name, created=response.status_code == 201)
        return self.wait_running(timeout_s)

    def wait_running(self, timeout_s: float) -> ConnectorStatus:
        """Wait until connector and tasks are RUNNING; :class:`ConnectorFailedError` (with Connect's
        trace) as soon as one FAILED, or at the deadline."""

        def running() -> ConnectorStatus | None:
            status = self.status()
            if status is not None and (status.state == "FAILED" or status.failed_tasks):
                raise ConnectorFailedError(f"{self.name} failed:\n{(status.trace or status.state)[:4000]}")
            return status if status is not None and status.running else None

        status = wait_until(running, timeout_s, POLL_S)
        if status is None:
            raise ConnectorFailedError(f"{self.name} not RUNNING in {timeout_s:.0f}s (last: {self.status()})")
        return status

    def delete(self) -> None:
        self._request("DELETE", "", allow_404=True, timeout=30)

    def restart_failed(self) -> None:
        self._request("POST", "/restart", params={"includeTasks": "true", "onlyFailed": "true"}, timeout=30)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the connector and its tasks (they commit what they wrote) and wait for STOPPED."""
        self._request("PUT", "/stop", timeout=30)
        self._wait(lambda s: s is not None and s.state == "STOPPED" and not s.tasks, timeout_s, "STOPPED")

    def resume(self) -> None:
        self._request("PUT", "/resume", timeout=30)

    def sink_offsets(self) -> dict[tuple[str, int], int]:
        """Committed offsets per (topic, partition); partitions never committed are absent."""
        response = self._request("GET", "/offsets")
        assert response is not None
        return {
            (entry["partition"]["kafka_topic"], int(entry["partition"]["kafka_partition"])): int(
                entry["offset"]["kafka_offset"]
            )
            for entry in response.json().get("offsets", [])
        }

    def alter_sink_offsets(self, offsets: dict[tuple[str, int], int]) -> None:
        """Move the given partitions' committed offsets (the connector must be STOPPED)."""
        body = {
            "offsets": [
                {
                    "partition": {"kafka_topic": topic, "kafka_partition": partition},
                    "offset": {"kafka_offset": o},
                }
                for (topic, partition), o in offsets.items()
            ]
        }
        self._request("PATCH", "/offsets", json=body, timeout=60)

    def reset_sink_offsets(self) -> None:
        """Forget the committed offsets: the sink starts again from the beginning (STOPPED only)."""
        self._request("DELETE", "/offsets", timeout=60)

    def _wait(self, done: Callable[[ConnectorStatus | None], bool], timeout_s: float, what: str) -> None:
        if not wait_until(lambda: done(self.status()), timeout_s, POLL_S):
            raise ConnectRequestError(
                f"{self.name} not {what} within {timeout_s:.0f}s (last: {self.status()})"
            )

    def _request(
        self, method: str, path: str, allow_404: bool = False, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = httpx.request(method, self._base + path, timeout=timeout or self._timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise DependencyUnavailableError("kafka connect", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code >= 400:
            raise ConnectRequestError(
                f"{method} {path or '/'} on {self.name}: {response.status_code} {response.text[:500]}"
            )
        return response
