"""GET /audit_events against the real store answers exactly what a brute-force filter over the
same data answers — results, order and meta — and rejects everything else clearly."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from bson.raw_bson import RawBSONDocument
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import SecretStr
from pymongo import MongoClient
from starlette.testclient import TestClient

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.waiting import wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.app import create_app
from query_service.params import parameter_specs
from scripts.stack.control import LocalStack
from tests.support.faults import suspend

pytestmark = pytest.mark.stack
DOCUMENTS = 1500


@pytest.fixture(scope="module")
def dataset(stack: LocalStack, settings: Settings) -> Iterator[tuple[Settings, list[dict[str, Any]]]]:
    """1,500 pipeline-shaped documents of 30 users, many sharing a second (ties)."""
    database = f"api_{int(time.time() * 1000)}"
    scoped = settings.model_copy(update={"mongo_database": database})
    documents = stored_documents(settings, DOCUMENTS, seed=42, spread_s=600, users=30)
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        collection = client[database][settings.mongo_collection]
        collection.insert_many([RawBSONDocument(value) for value in documents])
        ensure_indexes(collection)
        stored = list(collection.find())
        yield scoped, stored
        client.drop_database(database)


@pytest.fixture(scope="module")
def operator(dataset: tuple[Settings, list[dict[str, Any]]]) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(dataset[0], None, 'query tests').secret_key}"}


@pytest.fixture(scope="module")
def api(dataset: tuple[Settings, list[dict[str, Any]]], operator: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(dataset[0]), raise_server_exceptions=False, headers=operator) as client:
        yield client


# Well-formed, so the API must ask the store about it.
SOME_KEY = {"Authorization": "Bearer at_0123456789ab_" + "k" * 43}


def oracle(documents: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """What the API must answer, computed by brute force."""

    def keep(doc: dict[str, Any]) -> bool:
        epoch = int(doc["timestamp"].astimezone(UTC).timestamp())
        return all(
            [
                params.get("user_id") in (None, doc["user_id"]),
                params.get("company_id") in (None, doc["company_id"]),
                params.get("event_type") in (None, doc["event_type"]),
                params.get("event_resource_type") in (None, doc["event_resource_type"]),
                params.get("timestamp_from") is None or epoch >= params["timestamp_from"],
                params.get("timestamp_to") is None or epoch <= params["timestamp_to"],
            ]
        )

    matching = sorted(
        (d for d in documents if keep(d)), key=lambda d: (d["timestamp"], d["_id"]), reverse=True
    )
    page, per_page = params.get("page", 1), params.get("per_page", 10)
    return {
        "ids": [d["_id"] for d in matching[(page - 1) * per_page : page * per_page]],
        "meta": {
            "current_page": page,
            "total_pages": math.ceil(len(matching) / per_page),
            "per_page": per_page,
            "total_count": len(matching),
        },
    }


def answer(api: TestClient, params: dict[str, Any]) -> dict[str, Any]:
    response = api.get("/audit_events", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return {"ids": [event["id"] for event in body["data"]], "meta": body["meta"]}


def values(documents: list[dict[str, Any]], name: str) -> list[Any]:
    return sorted({d[name] for d in documents})


def test_each_filter_and_combination_matches_brute_force(api: TestClient, dataset) -> None:
    _, documents = dataset
    first = documents[0]
    epoch = int(first["timestamp"].timestamp())
    cases = [
        {},
        {"page": 2, "per_page": 20},
        {"user_id": first["user_id"]},
        {"company_id": first["company_id"]},
        {"event_type": "login"},
        {"event_resource_type": "comment"},
        {"event_type": "login", "timestamp_from": epoch - 120, "timestamp_to": epoch + 120},
        {"company_id": first["company_id"], "event_resource_type": "bug"},
        {"timestamp_from": epoch},
        {"timestamp_from": epoch, "timestamp_to": epoch},
        {"user_id": 123},
        {"page": 1000, "per_page": 10},
        {"per_page": 1000},
        {"company_id": first["company_id"], "user_id": first["user_id"], "event_type": first["event_type"]},
    ]
    for params in cases:
        assert answer(api, params) == oracle(documents, params), params


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_parameter_combinations_match_brute_force(api: TestClient, dataset, data) -> None:
    _, documents = dataset
    epochs = [int(d["timestamp"].timestamp()) for d in documents]
    params: dict[str, Any] = {}
    for name in ("user_id", "company_id", "event_type", "event_resource_type"):
        if data.draw(st.booleans(), label=f"filter {name}"):
            params[name] = data.draw(st.sampled_from(values(documents, name)), label=name)
    if data.draw(st.booleans(), label="time range"):
        start = data.draw(st.integers(min(epochs) - 5, max(epochs) + 5), label="timestamp_from")
        params["timestamp_from"] = start
        if data.draw(st.booleans(), label="upper bound"):
            params["timestamp_to"] = data.draw(st.integers(start, max(epochs) + 5), label="timestamp_to")
    params["per_page"] = data.draw(st.integers(1, 60), label="per_page")
    params["page"] = data.draw(st.integers(1, 8), label="page")
    assert answer(api, params) == oracle(documents, params)


def test_walking_every_page_yields_each_match_exactly_once(api: TestClient, dataset) -> None:
    _, documents = dataset
    params = {"event_resource_type": "bug", "per_page": 37}
    expected = oracle(documents, {**params, "per_page": DOCUMENTS})["ids"]
    seen: list[str] = []
    total_pages = answer(api, params)["meta"]["total_pages"]
    for page in range(1, total_pages + 2):
        seen += answer(api, {**params, "page": page})["ids"]
    assert seen == expected
    assert len(set(seen)) == len(seen)


def test_a_page_past_the_end_is_empty_with_correct_meta(api: TestClient, dataset) -> None:
    _, documents = dataset
    body = api.get("/audit_events", params={"page": 500, "per_page": 100}).json()
    assert body == {
        "data": [],
        "meta": {
            "current_page": 500,
            "total_pages": math.ceil(len(documents) / 100),
            "per_page": 100,
            "total_count": len(documents),
        },
    }


def test_events_carry_documented_fields_only(api: TestClient) -> None:
    event = api.get("/audit_events", params={"per_page": 1}).json()["data"][0]
    assert set(event) == {
        "id",
        "timestamp",
        "user_id",
        "company_id",
        "event_type",
        "event_resource_type",
        "resource_id",
        "event_data",
        "ingested_at",
        "content_sha256",
    }
    assert isinstance(event["timestamp"], int)
    assert isinstance(event["event_data"], dict)
    assert event["ingested_at"].endswith("Z")


JUNK = [
    "userid=5",
    "user_id[$ne]=1",
    "user_id[$gt]=",
    'user_id={"$gt":0}',
    "company_id=1;drop",
    "page=1&page=2",
    "event_type=%00",
    "event_type=%7B%22%24where%22%3A%22sleep(1000)%22%7D",
    "per_page=1000000",
    "page=99999999999999999999999",
    "timestamp_to=5",
    "timestamp_from=9&timestamp_to=1",
    "event_type=" + "é" * 10,
    "user_id=%FF%FE",
    "=",
    "a" * 3000,
]


@pytest.mark.parametrize("query", JUNK)
def test_junk_and_injection_get_a_json_400_never_a_5xx(api: TestClient, query: str) -> None:
    response = api.get(f"/audit_events?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_parameters"
    assert body["details"]


def test_an_overlong_query_string_is_refused_as_json(api: TestClient) -> None:
    response = api.get("/audit_events?event_type=" + "x" * 5000)
    assert (response.status_code, response.json()["error"]) == (414, "uri_too_long")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/audit_events", 405, "method_not_allowed"),
        ("DELETE", "/audit_events", 405, "method_not_allowed"),
    ],
)
def test_other_errors_are_json_too(api: TestClient, method: str, path: str, status: int, code: str) -> None:
    response = api.request(method, path)
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_health_ready_openapi_and_docs(api: TestClient) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready"}
    document = api.get("/openapi.json").json()
    validate(document)  # raises if not valid OpenAPI 3.1
    listed = {p["name"] for p in document["paths"]["/audit_events"]["get"]["parameters"]}
    assert listed == {spec.name for spec in parameter_specs(1000)}
    page = api.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert all(name in page.text for name in listed)


# Closing a client whose monitor is still dialling a dead port cancels it mid-connect, and the
# async driver leaves that socket to the garbage collector (mongo-python-driver PYTHON-3923).
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.timeout(60)  # a hang fails the test; the 503's speed is bounded by server selection
def test_an_unreachable_store_is_a_fast_503(settings: Settings) -> None:

    dead = settings.model_copy(
        update={"mongo_uri": SecretStr("mongodb://127.0.0.1:1/"), "mongo_server_selection_timeout_ms": 500}
    )
    with TestClient(create_app(dead), raise_server_exceptions=False, headers=SOME_KEY) as client:
        response = client.get("/audit_events")
        assert (response.status_code, response.json()["error"]) == (503, "store_unavailable")
        assert response.headers["retry-after"]
        assert client.get("/ready").status_code == 503
        assert client.get("/health").status_code == 200


@pytest.mark.control
@pytest.mark.timeout(60)  # a hang fails the test
def test_a_query_over_its_time_limit_is_a_503_not_a_hang(dataset, operator, stack: LocalStack) -> None:
    # A query that cannot finish whatever the machine's speed: the store's database frozen
    # (SIGSTOP) for the request. (A 1 ms limit on a fast query was a race the query sometimes won.)
    scoped, _ = dataset
    hasty = scoped.model_copy(update={"mongo_query_timeout_ms": 300})
    with TestClient(create_app(hasty), raise_server_exceptions=False, headers=operator) as client:
        assert client.get("/audit_events", params={"per_page": 1000}).status_code == 200
        frozen = suspend(stack.processes, "postgres")
        try:
            response = client.get("/audit_events", params={"per_page": 1000})
        finally:
            frozen.resume()
        assert response.status_code == 503
        assert response.json()["message"] in {
            "the query exceeded its time limit",  # the store's own maxTimeMS
            "the store did not answer in time",  # the socket timeout just above it
        }
        wait_for(lambda: client.get("/audit_events").status_code == 200, 30, "the API to heal")


def test_selective_filters_are_answered_by_the_store_not_by_a_full_fetch(dataset) -> None:
    """An index scan, on MongoDB and on the local stack's FerretDB alike: the stack's pushdown
    patch answers the whole query in SQL (filter, sort, limit) from the compound indexes."""
    scoped, documents = dataset
    with MongoClient(scoped.mongo_uri.get_secret_value()) as client:
        collection = client[scoped.mongo_database][scoped.mongo_collection]
        is_ferretdb = "ferretdbVersion" in client.admin.command("buildInfo")
        for name in ("company_id", "user_id"):
            plan = (
                collection.find({name: documents[0][name]}).sort([("timestamp", -1), ("_id", -1)]).explain()
            )
            if is_ferretdb:
                assert plan["exactPushdown"], plan
                assert "Index Scan" in str(plan["queryPlanner"]), plan
                assert "Seq Scan" not in str(plan["queryPlanner"]), plan
            else:
                assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"]), plan
                assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"]), plan
