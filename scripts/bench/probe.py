"""Produce → queryable latency, measured from outside the pipeline.

Every ``every``-th event sent is remembered with its send time; every 100 ms a background
thread looks the oldest ``LOOKUPS_PER_SWEEP`` remembered ids up in the store by ``_id``, until
each is found. Latency = found - sent, at ~100 ms resolution while few are pending; when the
pipeline falls behind, the probe falls behind with it (it reports too high, never too low).

The lookups are extra load on the store: index probes (~1 ms on MongoDB and on the stack's
patched FerretDB; released FerretDB 1.x scanned the collection for each). Capping the lookups
per sweep keeps the probe's share of the store bounded however far behind the pipeline is;
the results report the lookups made.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pymongo import MongoClient

from authtrail.settings import Settings

POLL_S = 0.1
LOOKUPS_PER_SWEEP = 16


class LatencyProbe:
    def __init__(self, settings: Settings, every: int = 200) -> None:
        self.every = every
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            settings.mongo_uri.get_secret_value(), maxPoolSize=16
        )
        self.collection = self.client[settings.mongo_database][settings.mongo_collection]
        self.pending: dict[str, float] = {}
        self.samples: list[tuple[float, float]] = []  # (sent at, latency), seconds since start
        self.lookups = 0
        self.started = time.perf_counter()
        self._seen = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pool = ThreadPoolExecutor(LOOKUPS_PER_SWEEP)

    def start(self) -> LatencyProbe:
        self._thread.start()
        return self

    def sent(self, event_id: str) -> None:
        self._seen += 1
        if self._seen % self.every == 0:
            with self._lock:
                self.pending[event_id] = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                waiting = list(self.pending.items())[:LOOKUPS_PER_SWEEP]  # oldest first
            found = list(self._pool.map(self._present, [event_id for event_id, _ in waiting]))
            now = time.perf_counter()
            with self._lock:
                for (event_id, sent_at), present in zip(waiting, found, strict=True):
                    if present:
                        del self.pending[event_id]
                        self.samples.append((sent_at - self.started, now - sent_at))
            self._stop.wait(POLL_S)

    def _present(self, event_id: str) -> bool:
        self.lookups += 1
        return self.collection.find_one({"_id": event_id}, {"_id": 1}) is not None

    def drained(self) -> bool:
        with self._lock:
            return not self.pending

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pool.shutdown()
        self.client.close()
