"""Background processes the stack started, tracked by PID and start time.

A record is ``<run_dir>/<name>.json`` holding the PID and the process's creation time;
a PID whose creation time differs is some other process that reused the number, and is
never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from authtrail.waiting import wait_until

# Handles of the children this process started: kept so they can be reaped (no zombies
# in a long-lived parent such as a test session) and not reported as leaked.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


@dataclass(frozen=True)
class Tracked:
    name: str
    pid: int
    created: float  # seconds from boot to the process's start: a reused pid starts later
    log: Path

    def alive(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            return (
                abs(_started(process) - self.created) < START_TOLERANCE_S
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False


# Start times are compared as seconds since boot, never as wall-clock times: the kernel's boot
# time in wall-clock terms moves when the clock is stepped or slewed across a second, and every
# tracked server then looked dead (a test session lost its whole stack that way).
START_TOLERANCE_S = 1.5  # records of older versions were rebased from wall-clock times (±1 s)


def _started(process: psutil.Process) -> float:
    # create_time() is the start in ticks since boot plus the boot time as the kernel gives it
    # now: take that boot time off again
    return process.create_time() - psutil.boot_time()


class ProcessTable:
    """The processes one stack directory owns."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def get(self, name: str) -> Tracked | None:
        record = self.run_dir / f"{name}.json"
        if not record.exists():
            return None
        data = json.loads(record.read_text())
        if "started_s" not in data:  # a record of an older version: wall-clock, rebased once
            data["started_s"] = data["created"] - psutil.boot_time()
        return Tracked(name=name, pid=data["pid"], created=data["started_s"], log=Path(data["log"]))

    def running(self, name: str) -> Tracked | None:
        _reap()
        tracked = self.get(name)
        return tracked if tracked is not None and tracked.alive() else None

    def start(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Tracked:
        """Start ``argv`` detached from this process (its own session), output to ``log``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(f"\n=== authtrail: starting {name}: {' '.join(argv)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        _children[process.pid] = process
        tracked = Tracked(name=name, pid=process.pid, created=_started(psutil.Process(process.pid)), log=log)
        (self.run_dir / f"{name}.json").write_text(
            json.dumps({"pid": tracked.pid, "started_s": tracked.created, "log": str(log), "argv": argv})
        )
        return tracked

    def stop(self, name: str, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> bool:
        """Signal the tracked process (and its session), wait, then SIGKILL. True if it ran."""
        tracked = self.running(name)
        record = self.run_dir / f"{name}.json"
        if tracked is None:
            record.unlink(missing_ok=True)
            return False
        _signal_group(tracked.pid, sig)
        if not wait_until(lambda: not tracked.alive(), timeout_s, 0.1):
            _kill_family(tracked, 60)
        _reap()
        record.unlink(missing_ok=True)
        return True

    def kill(self, name: str) -> None:
        """``kill -9`` without ceremony: what the fault tests do to a server — every process of
        it at once, as an OOM kill or a container's hard stop would."""
        tracked = self.running(name)
        if tracked is not None:
            _kill_family(tracked, 10)
            _reap()


def _kill_family(tracked: Tracked, timeout_s: float) -> None:
    """SIGKILL the process, its session and every descendant, and wait until all are gone.
    Descendants may be in sessions of their own — PostgreSQL's backends call ``setsid()`` — and
    outlive a killed parent for a moment: PostgreSQL refuses to start again while they hold its
    shared memory."""
    try:
        process = psutil.Process(tracked.pid)
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        family = []
    _signal_group(tracked.pid, signal.SIGKILL)
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(family, timeout=timeout_s)
    wait_until(lambda: not tracked.alive(), timeout_s, 0.05)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)
