"""Consumer lag over time, sampled from the broker (committed vs end offsets) once a second."""

from __future__ import annotations

import threading
import time

from authtrail.kafka.offsets import consumer_lag
from authtrail.settings import Settings


class LagSampler:
    def __init__(self, settings: Settings, every_s: float = 1.0) -> None:
        self.settings = settings
        self.every_s = every_s
        self.series: list[tuple[float, int, int]] = []  # (seconds since start, transformer lag, sink lag)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LagSampler:
        self._thread.start()
        return self

    def sample(self) -> tuple[int, int]:
        s = self.settings
        return (
            consumer_lag(s, s.transformer_group, s.raw_topic),
            consumer_lag(s, f"connect-{s.connector_name}", s.sink_topic),
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            transformer, sink = self.sample()
            self.series.append((round(time.monotonic() - self.started, 1), transformer, sink))
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
