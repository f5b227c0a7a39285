"""What the sink watch reports about the connector: RUNNING only when every part runs, and one
log line each time what it sees changes."""

from __future__ import annotations

from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from authtrail.kafka_connect import ConnectorClient, ConnectorStatus
from connect.sink.quarantine import SinkQuarantine
from connect.sink.watch import ConnectorSupervisor, seen_state
from connect.sink.writes import SinkWriter


def status(connector: str, *tasks: str) -> ConnectorStatus:
    return ConnectorStatus("sink", connector, [{"id": i, "state": s} for i, s in enumerate(tasks)])


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (status("RUNNING", "RUNNING", "RUNNING"), "RUNNING"),
        # After the worker dropped out of its group and rejoined: the status topic still says
        # the tasks run, but no worker runs them — nothing is being stored.
        (status("UNASSIGNED", "RUNNING", "RUNNING"), "UNASSIGNED"),
        (status("RUNNING", "RUNNING", "UNASSIGNED"), "UNASSIGNED"),
        (status("RUNNING"), "NO_TASKS"),
        (status("PAUSED", "PAUSED"), "PAUSED"),
    ],
)
def test_running_means_the_connector_and_every_task_run(seen: ConnectorStatus, expected: str) -> None:
    assert seen_state(seen) == expected


class ScriptedConnector:
    """Answers ``status()`` with the next of the given statuses."""

    name = "sink"

    def __init__(self, *statuses: ConnectorStatus) -> None:
        self.statuses = list(statuses)

    def status(self) -> ConnectorStatus:
        return self.statuses.pop(0)


def supervisor_of(connector: ScriptedConnector) -> ConnectorSupervisor:
    unused: Any = object()  # quarantine and writer are only asked when something failed
    return ConnectorSupervisor(
        cast(ConnectorClient, connector), cast(SinkQuarantine, unused), cast(SinkWriter, unused)
    )


def test_each_change_of_what_the_watch_sees_is_one_log_line() -> None:
    running = status("RUNNING", "RUNNING", "RUNNING")
    unassigned = status("UNASSIGNED", "RUNNING", "RUNNING")
    supervisor = supervisor_of(ScriptedConnector(running, running, unassigned, unassigned, running))
    with capture_logs() as logs:
        seen = [supervisor.check_once() for _ in range(5)]
    assert seen == ["RUNNING", "RUNNING", "UNASSIGNED", "UNASSIGNED", "RUNNING"]
    changes = [(e["log_level"], e["was"], e["state"]) for e in logs if e["event"] == "sink state changed"]
    assert changes == [
        ("info", None, "RUNNING"),
        ("warning", "RUNNING", "UNASSIGNED"),
        ("info", "UNASSIGNED", "RUNNING"),
    ]
