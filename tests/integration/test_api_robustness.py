"""The live query service under fuzzing and outages: no 5xx, every response as documented,
every invalid input a JSON 400; a store outage is a fast 503 and heals by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from bson.raw_bson import RawBSONDocument
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from pymongo import MongoClient
from schemathesis import GenerationMode

from authtrail.integrity.signing_key import ensure_signing_key
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.params import FILTER_NAMES, MAX_COMBINATIONS, MAX_RESULT_WINDOW
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.stack.processes import ProcessTable
from tests.support.faults import suspend

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def live_api(stack: LocalStack, settings: Settings, tmp_path_factory) -> Iterator[IsolatedPipeline]:
    """`authtrail serve` on its own port, over 500 stored events."""
    workdir: Path = tmp_path_factory.mktemp("api")
    api = IsolatedPipeline(settings, f"fuzz{int(time.time())}", workdir, api_port=14300)
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        client[api.settings.mongo_database][api.settings.mongo_collection].insert_many(
            [RawBSONDocument(value) for value in stored_documents(settings, 500, users=40, spread_s=3600)]
        )
    ensure_signing_key(api.settings)  # as `authtrail up` does: the API serves its public key
    api.start("api")
    wait_for(lambda: http_ok(f"{api.settings.api_url}/health"), 30, "authtrail serve")
    yield api
    ProcessTable(workdir / "run").stop("api")
    api.mongo.drop_database(api.settings.mongo_database)
    api.mongo.close()


@pytest.fixture(scope="module")
def auth(live_api: IsolatedPipeline) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_api.key()}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers_and_never_a_5xx(
    live_api: IsolatedPipeline, auth, mode
) -> None:
    """schemathesis, driven by /openapi.json: valid (positive) and invalid (negative) requests for
    every operation; each answer must conform to the document (status, content type, schema)."""
    schema = schemathesis.openapi.from_url(f"{live_api.settings.api_url}/openapi.json")
    # Every call carries a valid key (`auth`), so a negative case whose only flaw is a missing or
    # mangled Authorization header would reach the server as a valid request; keys have their own
    # tests (test_security.py), and here the generated flaws are all in what is actually sent.
    schema.config.generation.update(with_security_parameters=False)
    # A generated query string past 4 KB is refused before it is parsed: 414, documented.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "414"]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/audit_events",
        "/audit_events/export",
        "/audit_events/{id}",
        "/audit_events/{id}/proof",
        "/checkpoints",
        "/checkpoints/public-key",
        "/checkpoints/leaves",
        "/checkpoints/consistency",
        "/health",
        "/ready",
    }
    with requests.Session() as session:  # closed here: no socket left for the garbage collector
        for operation in operations:
            _fuzz(operation, mode, session, auth)


def _fuzz(operation, mode, session: requests.Session, auth: dict[str, str]) -> None:
    if mode == GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
        return  # nothing to get wrong in a request without parameters

    strategy = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        # Rules OpenAPI cannot express across parameters (they are in the descriptions):
        # valid cases are made to honour them, and every such case must then be accepted.
        strategy = strategy.map(follow_cross_parameter_rules)

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def check(case) -> None:
        response = case.call(session=session, headers=auth, timeout=30)
        assert response.status_code < 500, response.text
        case.validate_response(response)
        if response.status_code == 400:
            body = response.json()
            assert body["error"] == "invalid_parameters"
            assert body["details"]

    check()


def follow_cross_parameter_rules(case):
    """Rules OpenAPI cannot express (they are in the descriptions): timestamp_to needs a
    timestamp_from not after it; page × per_page ≤ the result window; page does not mix with
    cursor pagination, and order=ingested filters by company only; at most MAX_COMBINATIONS
    event_type × event_resource_type pairs; an operator key names the company of a log, and a
    consistency proof runs from a smaller size to a larger one. Cursors and resume ids cannot be
    made up: a valid one comes from an earlier answer, so generated ones are dropped."""
    if case.operation.path.startswith("/checkpoints/") or case.operation.path == "/checkpoints":
        if case.operation.path != "/checkpoints/public-key":
            case.query = {"company_id": 1, **(case.query or {})}
        if case.operation.path == "/checkpoints/consistency":
            sizes = sorted([case.query.get("from", 1), case.query.get("to", 1)])
            case.query.update({"from": sizes[0], "to": sizes[1]})
    query = case.query
    if isinstance(query, dict) and query:
        for made_up in ("cursor", "after", "after_id"):
            query.pop(made_up, None)
        if "timestamp_to" in query:
            query["timestamp_from"] = min(query.get("timestamp_from", 0), query["timestamp_to"])
        types = str(query.get("event_type", "x")).split(",")
        if len(types) * len(str(query.get("event_resource_type", "x")).split(",")) > MAX_COMBINATIONS:
            query["event_resource_type"] = str(query["event_resource_type"]).split(",")[0]
        if "order" in query:
            query.pop("page", None)
            if query["order"] == "ingested":
                for name in FILTER_NAMES:
                    if name != "company_id":
                        query.pop(name, None)
        elif case.operation.path == "/audit_events":
            per_page = query.get("per_page", 10)
            query["page"] = max(1, min(query.get("page", 1), MAX_RESULT_WINDOW // per_page))
    return case


NASTY = [
    "user_id[$gt]=",
    "user_id[$ne]=1",
    "%7B%22%24where%22%3A%22sleep(100)%22%7D=1",
    "event_type=%7B%22%24gt%22%3A%22%22%7D",
    "event_type=%00",
    "user_id=%00",
    "page=%00",
    "event_type=%E2%80%AE%E2%80%AD",
    "event_type=%F0%9F%94%A5",
    "user_id=%EF%BC%91",  # bidi marks, emoji, fullwidth 1
    "page=1&page=1",
    "per_page=1&per_page=1000",
    "page=9" * 20,
    "per_page=-0",
    "user_id=0x10",
    "timestamp_from=1652502000&timestamp_to=1652502000&timestamp_to=1",
    "x=" + "y" * 3000,
]


@pytest.mark.parametrize("query", NASTY)
def test_nasty_requests_get_a_json_400(live_api: IsolatedPipeline, auth, query: str) -> None:
    response = httpx.get(f"{live_api.settings.api_url}/audit_events?{query}", headers=auth, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_parameters"


def test_a_very_long_query_string_is_refused_cleanly(live_api: IsolatedPipeline) -> None:
    response = httpx.get(f"{live_api.settings.api_url}/audit_events?user_id=1&x={'a' * 20_000}", timeout=10)
    assert response.status_code == 414
    assert response.json()["error"] == "uri_too_long"


def take_down(stack: LocalStack, outage: str) -> Callable[[], None]:
    """Cause the outage; return what ends it."""
    if outage == "frozen":  # SIGSTOP: its port accepts connections, nothing answers
        return suspend(stack.processes, "store").resume
    if outage == "postgres frozen":  # the wire server answers, every query it sends hangs
        return suspend(stack.processes, "postgres").resume
    server = "store" if outage == "stopped" else "postgres"
    if outage == "stopped":
        stack.stop(server)
    else:  # the wire server still answers, its database is gone
        stack.kill(server)
    return lambda: stack.start(server)


@pytest.mark.control
@pytest.mark.parametrize(
    "outage",
    ["stopped", "postgres killed", "frozen", "postgres frozen"],
    ids=[
        "the store stopped",
        "PostgreSQL killed under a running FerretDB",
        "the store frozen (SIGSTOP)",
        "PostgreSQL frozen under a running FerretDB",
    ],
)
def test_a_store_outage_is_a_fast_503_and_heals_by_itself(
    outage: str, live_api: IsolatedPipeline, auth, stack: LocalStack
) -> None:
    url = f"{live_api.settings.api_url}/audit_events"
    assert httpx.get(url, headers=auth, timeout=10).status_code == 200
    end_outage = take_down(stack, outage)
    try:
        # A hang fails here: the client gives up long before a hung request would answer (the
        # API's bounds are the 2 s server selection and the query's socket timeout; how fast
        # the 503 is, benchmarks measure).
        response = httpx.get(url, headers=auth, timeout=15)
        assert (response.status_code, response.json()["error"]) == (503, "store_unavailable")
        assert httpx.get(f"{live_api.settings.api_url}/ready", headers=auth, timeout=30).status_code == 503
        assert httpx.get(f"{live_api.settings.api_url}/health", timeout=30).status_code == 200
    finally:
        end_outage()
    wait_for(lambda: http_ok(url, auth), 60, "the API to answer again without a restart")
