"""The stack's process table (scripts/stack/processes.py) recognises its servers by pid and start
time. Start times are compared as time since boot: a wall-clock step moves the kernel's boot time
(as ``/proc/stat`` gives it) and must not make every tracked server look dead."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import psutil
import pytest

from authtrail.waiting import wait_until
from scripts.stack.processes import ProcessTable


@pytest.fixture
def table(tmp_path: Path):
    processes = ProcessTable(tmp_path / "run")
    processes.start(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log"
    )
    yield processes
    processes.stop("sleeper", timeout_s=5)


def test_a_server_stays_tracked_when_the_wall_clock_moves(table: ProcessTable, monkeypatch) -> None:
    assert table.running("sleeper") is not None
    booted = psutil.boot_time()
    # the clock was stepped 1 s: the kernel's boot time, as every psutil call reads it, moves
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: booted + 1.0)
    assert table.running("sleeper") is not None


def test_a_record_of_the_older_wall_clock_format_is_still_recognised(table: ProcessTable) -> None:
    record = table.run_dir / "sleeper.json"
    data = json.loads(record.read_text())
    process = psutil.Process(data["pid"])
    record.write_text(json.dumps({"pid": data["pid"], "created": process.create_time(), "log": data["log"]}))
    assert table.running("sleeper") is not None


def test_a_dead_server_is_not_running(table: ProcessTable) -> None:
    table.stop("sleeper", timeout_s=5)
    assert table.running("sleeper") is None


def test_a_kill_takes_every_process_of_a_server_even_those_in_sessions_of_their_own(tmp_path: Path) -> None:
    # As PostgreSQL's backends do: each calls setsid(), so a signal to the server's process group
    # misses it, and a restart finds its shared memory still held.
    child = "import os, time; os.setsid(); time.sleep(60)"
    server = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    )
    processes = ProcessTable(tmp_path / "run")
    tracked = processes.start("server", [sys.executable, "-c", server], tmp_path / "server.log")
    parent = psutil.Process(tracked.pid)
    assert wait_until(lambda: len(parent.children()) == 1, 10, 0.05)
    (backend,) = parent.children()
    assert wait_until(lambda: os.getsid(backend.pid) == backend.pid, 10, 0.05)  # it left the session
    processes.kill("server")
    assert processes.running("server") is None
    assert not backend.is_running() or backend.status() == psutil.STATUS_ZOMBIE
