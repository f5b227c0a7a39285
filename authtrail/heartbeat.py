"""A liveness signal for loops: a file touched while the loop makes progress.

Container healthchecks (``authtrail alive``) read its age: a process that is running but
stuck (a deadlock, an endless back-off) goes stale and is reported unhealthy.
"""

from __future__ import annotations

import time
from pathlib import Path

TOUCH_EVERY_S = 5.0


class Heartbeat:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = 0.0

    def beat(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._last >= TOUCH_EVERY_S:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            self._last = now


def age_s(path: Path) -> float | None:
    """Seconds since the last beat, or None if there was none."""
    return time.time() - path.stat().st_mtime if path.exists() else None
