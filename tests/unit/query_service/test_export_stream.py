"""The export streams batch after batch (keyset positions, never one huge find), ends a failed
stream visibly instead of cleanly, and always gives the key's export slot back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.testclient import TestClient

from authtrail.api_keys import Principal
from authtrail.settings import load_settings
from query_service.app import create_app
from query_service.export import ExportCutError
from query_service.query import NEWEST, Position, SortOrder
from query_service.rate_limit import RateLimitedError, RunningLimit
from query_service.store import StoreUnavailableError
from tests.support.unreached_store import UNREACHED_STORE_URI

T0 = datetime(2026, 5, 1, tzinfo=UTC)
EVENTS = 2500
BATCH = 1000


def document(i: int) -> dict[str, Any]:
    return {
        "_id": f"e{i:05d}",
        "timestamp": T0 - timedelta(seconds=i // 3),  # ties: three events per second
        "user_id": 7,
        "company_id": 42,
        "event_type": "create",
        "event_resource_type": "bug",
        "resource_id": "BUG-1",
        "event_data": {"n": i},
        "ingested_at": T0,
        "content_sha256": None,
    }


class FakeStore:
    """The store's keyset walk over a list in the API's order; fails on a chosen call."""

    def __init__(self, fail_on_walk: int | None = None) -> None:
        self.documents = sorted(
            (document(i) for i in range(EVENTS)), key=lambda d: (d["timestamp"], d["_id"]), reverse=True
        )
        self.walks: list[tuple[Position | None, int]] = []
        self.fail_on_walk = fail_on_walk

    async def count(self, filters: Any, order: SortOrder = NEWEST, after: Position | None = None) -> int:
        return len(self._after(after))

    async def walk(self, filters: Any, order: SortOrder, after: Position | None, limit: int) -> list[Any]:
        self.walks.append((after, limit))
        if self.fail_on_walk == len(self.walks):
            raise StoreUnavailableError("the store is unreachable (test)")
        return self._after(after)[:limit]

    def _after(self, after: Position | None) -> list[dict[str, Any]]:
        if after is None:
            return self.documents
        return [d for d in self.documents if (d["timestamp"], d["_id"]) < (after.at, after.id)]

    async def close(self) -> None:
        pass


class AnyKey:
    async def authenticate(self, request: Request) -> Principal:
        return Principal(key_id="k1", name="test", company_id=42)


@pytest.fixture
def app_with(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, FakeStore, list[dict[str, Any]]]]:
    settings = load_settings(
        mongo_uri=UNREACHED_STORE_URI,  # never reached: the store is faked
        api_access_log_to_store=False,
        api_export_batch_size=BATCH,
        api_cursor_secret=SecretStr("s" * 40),
    )
    fake = FakeStore(fail_on_walk=getattr(request, "param", None))
    records: list[dict[str, Any]] = []
    app = create_app(settings)
    with TestClient(app) as client:
        real_store = app.state.store
        app.state.store = fake
        app.state.keys = AnyKey()
        app.state.access_recorder.record = records.append
        yield client, fake, records
        app.state.store = real_store


def test_an_export_is_every_event_in_keyset_batches(app_with) -> None:
    client, fake, records = app_with
    response = client.get("/audit_events/export", params={"format": "ndjson"})
    assert response.status_code == 200
    assert response.headers["x-total-count"] == str(EVENTS)
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="audit_events-company-42-'
    )
    assert response.text.count("\n") == EVENTS
    # one walk per batch, each from the last event of the one before: no skip, no huge find
    assert [limit for _, limit in fake.walks] == [BATCH] * 3
    assert fake.walks[0][0] is None
    # ... and how many of that event's second the export has sent (three events a second)
    assert fake.walks[1][0] == dataclasses.replace(NEWEST.position(fake.documents[BATCH - 1]), ties=1)
    assert fake.walks[2][0] == dataclasses.replace(NEWEST.position(fake.documents[2 * BATCH - 1]), ties=2)
    assert client.app.state.export_limit._running == {}
    (record,) = [r for r in records if r["path"] == "/audit_events/export"]
    assert (record["status"], record["result_count"], record["total_count"]) == (200, EVENTS, EVENTS)
    assert record["params"] == "format=ndjson"


@pytest.mark.parametrize("app_with", [2], indirect=True)
def test_a_store_failure_mid_stream_is_not_a_clean_end(app_with) -> None:
    client, _, records = app_with
    with pytest.raises(ExportCutError, match="after 1,000 events"):
        client.get("/audit_events/export", params={"format": "csv"})
    assert client.app.state.export_limit._running == {}
    (record,) = [r for r in records if r["path"] == "/audit_events/export"]
    assert record["error"] == "StoreUnavailableError"
    assert record["result_count"] == BATCH  # the first batch went out before the failure


def test_an_export_over_the_cap_is_refused_before_it_streams(app_with) -> None:
    client, fake, _ = app_with
    client.app.state.settings = client.app.state.settings.model_copy(update={"api_export_max_events": 10})
    response = client.get("/audit_events/export")
    assert (response.status_code, response.json()["error"]) == (400, "export_too_large")
    assert fake.walks == []
    assert client.app.state.export_limit._running == {}


def test_exports_per_key_are_bounded_and_slots_come_back() -> None:
    limit = RunningLimit(2, "exports")
    limit.enter("k")
    limit.enter("k")
    limit.enter("other")
    with pytest.raises(RateLimitedError, match="already runs 2 exports"):
        limit.enter("k")
    limit.leave("k")
    limit.enter("k")
    for key in ("k", "k", "other"):
        limit.leave(key)
    assert limit._running == {}
