"""`authtrail serve` answers the seed README's example requests correctly, on events the
pipeline ingested, and logs one line per request."""

from __future__ import annotations

import json
from typing import Any

import bson
import httpx
import pytest

from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import isolated_pipeline
from tests.integration.test_query_api import oracle

pytestmark = pytest.mark.stack
MAY_14_2022 = 1_652_502_000  # the seed's example window: timestamp_from=1652502000&timestamp_to=1652588400
TZ_AWARE = bson.CodecOptions(tz_aware=True)
SEED_EXAMPLES: list[dict[str, Any]] = [
    {},
    {"page": 2, "per_page": 20},
    {"user_id": 123},
    {"event_type": "login", "timestamp_from": 1_652_502_000, "timestamp_to": 1_652_588_400},
]


def test_the_seed_examples_on_pipeline_ingested_events(
    stack: LocalStack, settings: Settings, unique: str, tmp_path
) -> None:
    api_port = 14100
    with isolated_pipeline(settings, unique, tmp_path, api_port=api_port) as pipe:
        pipe.start("transformer")
        pipe.start("api")
        clock = iter(range(MAY_14_2022 - 3_600, MAY_14_2022 + 200_000, 53))
        factory = EventFactory(seed=21, clock=lambda: next(clock))
        events = [factory.event(user_id=123) for _ in range(15)]
        events += [factory.event(event_type="login") for _ in range(40)]
        events += [factory.event() for _ in range(245)]
        emitter = pipe.emitter()
        for event in events:
            emitter.send(event)
        assert emitter.flush(60) == 0
        emitter.close()
        pipe.wait_stored(len(events))
        base = f"http://127.0.0.1:{api_port}"
        auth = {"Authorization": f"Bearer {pipe.key()}"}

        wait_for(lambda: http_ok(f"{base}/health"), 30, "authtrail serve to answer")
        stored = list(
            pipe.mongo.get_database(pipe.settings.mongo_database, codec_options=TZ_AWARE)[
                pipe.settings.mongo_collection
            ].find()
        )
        for params in SEED_EXAMPLES:
            body = httpx.get(f"{base}/audit_events", params=params, headers=auth, timeout=30).json()
            assert {"ids": [e["id"] for e in body["data"]], "meta": body["meta"]} == oracle(stored, params), (
                params
            )
        assert (
            httpx.get(f"{base}/audit_events", params={"user_id": 123}, headers=auth).json()["meta"][
                "total_count"
            ]
            == 15
        )
        window = httpx.get(f"{base}/audit_events", params=SEED_EXAMPLES[3], headers=auth).json()
        assert window["data"]
        assert all(e["event_type"] == "login" for e in window["data"])

        log_lines = [json.loads(line) for line in (tmp_path / "log" / "serve.log").read_text().splitlines()]
        requests = [line for line in log_lines if line.get("event") == "request"]
        assert {"method", "path", "status", "duration_ms"} <= requests[-1].keys()
        assert any(r["path"] == "/audit_events" and r["status"] == 200 for r in requests)
