"""Only keys get in, and a company's key never reads another company's events; the audit
log's own access is recorded; keys never leak after creation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson.raw_bson import RawBSONDocument
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pymongo import MongoClient
from starlette.testclient import TestClient

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.app import create_app
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.stack.processes import ProcessTable

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tenants(stack: LocalStack, settings: Settings) -> Iterator[tuple[Settings, dict[int, set[str]]]]:
    """800 events of 40 users spread over their companies; ids by company."""
    scoped = settings.model_copy(update={"mongo_database": f"sec_{int(time.time() * 1000)}"})
    documents = [
        RawBSONDocument(value) for value in stored_documents(settings, 800, seed=77, users=40, spread_s=3600)
    ]
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        client[scoped.mongo_database][scoped.mongo_collection].insert_many(documents)
        by_company: dict[int, set[str]] = {}
        for d in documents:
            by_company.setdefault(d["company_id"], set()).add(d["_id"])
        yield scoped, by_company
        client.drop_database(scoped.mongo_database)


@pytest.fixture(scope="module")
def company_keys(tenants) -> dict[int, str]:
    scoped, by_company = tenants
    return {company: create_key(scoped, company, f"company {company}").secret_key for company in by_company}


@pytest.fixture(scope="module")
def client(tenants) -> Iterator[TestClient]:
    scoped, _ = tenants
    with TestClient(
        create_app(
            scoped.model_copy(update={"api_rate_limit_per_s": 10_000.0, "api_rate_limit_burst": 10_000.0})
        ),
        raise_server_exceptions=False,
    ) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


INJECTIONS = [
    "company_id[$ne]=1",
    'company_id={"$gt":0}',
    "company_id=1&company_id=2",
    "userid=1",
    "event_type=%7B%22%24ne%22%3Anull%7D",
]


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_company_key_never_returns_another_companys_event(client, tenants, company_keys, data) -> None:
    _, by_company = tenants
    companies = sorted(by_company)
    a = data.draw(st.sampled_from(companies), label="key of company A")
    b = data.draw(st.sampled_from([c for c in companies if c != a]), label="company B")
    headers = bearer(company_keys[a])
    shape = data.draw(st.sampled_from(["other company", "no company", "own company", "injection", "walk"]))
    if shape == "other company":
        response = client.get("/audit_events", params={"company_id": b}, headers=headers)
        assert response.status_code == 403
        assert str(b) not in response.text.replace(f"company {a}", "")
        return
    if shape == "injection":
        query = data.draw(st.sampled_from(INJECTIONS))
        response = client.get(f"/audit_events?{query}", headers=headers)
        assert response.status_code == 400
        return
    params: dict[str, Any] = {"per_page": data.draw(st.integers(1, 50))}
    if shape == "own company":
        params["company_id"] = a
    if data.draw(st.booleans(), label="event_type"):
        params["event_type"] = data.draw(st.sampled_from(["create", "login", "moved"]))
    seen: set[str] = set()
    page = 1
    while True:  # walk to the end
        body = client.get("/audit_events", params={**params, "page": page}, headers=headers).json()
        assert all(event["company_id"] == a for event in body["data"])
        seen |= {event["id"] for event in body["data"]}
        if page >= body["meta"]["total_pages"] or shape != "walk":
            break
        page += 1
    assert seen <= by_company[a]


def test_keys_are_required_and_bad_ones_get_a_401_challenge(client, tenants, company_keys) -> None:
    _scoped, by_company = tenants
    missing = client.get("/audit_events")
    assert (missing.status_code, missing.json()["error"]) == (401, "unauthorized")
    assert missing.headers["www-authenticate"] == 'Bearer realm="authtrail"'
    valid = company_keys[min(by_company)]
    key_id = valid.split("_")[1]
    for header in (
        "Basic dXNlcjpwdw==",
        f"Bearer {valid}x",
        f"Bearer at_{key_id}_" + "A" * 43,
        "Bearer at_ffffffffffff_" + "A" * 43,
        "Bearer",
        f"Token {valid}",
    ):
        response = client.get("/audit_events", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert client.get("/ready").status_code == 401
    for public in ("/health", "/openapi.json", "/docs"):
        assert client.get(public).status_code == 200


def test_an_operator_key_reads_every_company(client, tenants) -> None:
    scoped, by_company = tenants
    operator = create_key(scoped, None, "operator").secret_key
    body = client.get("/audit_events", params={"per_page": 1000}, headers=bearer(operator)).json()
    assert {event["company_id"] for event in body["data"]} == set(by_company)
    other = sorted(by_company)[1]
    assert (
        client.get("/audit_events", params={"company_id": other}, headers=bearer(operator)).status_code == 200
    )


def test_a_key_over_its_budget_gets_429_with_retry_after(tenants) -> None:
    scoped, _ = tenants
    key = create_key(scoped, None, "budget").secret_key
    stingy = scoped.model_copy(update={"api_rate_limit_per_s": 0.5, "api_rate_limit_burst": 3.0})
    with TestClient(create_app(stingy), raise_server_exceptions=False, headers=bearer(key)) as stingy_client:
        statuses = [stingy_client.get("/audit_events").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = stingy_client.get("/audit_events")
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


def test_request_bodies_are_capped(client, tenants) -> None:
    scoped, _ = tenants
    key = create_key(scoped, None, "body").secret_key
    response = client.request("GET", "/audit_events", headers=bearer(key), content=b"x" * 4096)
    assert (response.status_code, response.json()["error"]) == (413, "request_too_large")


def test_every_query_is_recorded_with_key_scope_parameters_count_and_status(client, tenants) -> None:
    scoped, by_company = tenants
    company = sorted(by_company)[0]
    key = create_key(scoped, company, "recorded").secret_key
    key_id = key.split("_")[1]
    client.get("/audit_events", params={"event_type": "login", "per_page": 5}, headers=bearer(key))
    client.get("/audit_events", params={"company_id": sorted(by_company)[1]}, headers=bearer(key))
    with MongoClient(scoped.mongo_uri.get_secret_value()) as mongo:
        access = mongo[scoped.mongo_database][scoped.api_access_collection]
        records = wait_for(
            lambda: (r := list(access.find({"key_id": key_id}).sort("at", 1))) and len(r) >= 2 and r,
            30,
            "access records in the store",
        )
    ok, refused = records[-2], records[-1]
    assert (ok["status"], ok["scope"], ok["params"]) == (
        200,
        f"company:{company}",
        "event_type=login&per_page=5",
    )
    assert ok["result_count"] <= 5
    assert (refused["status"], refused["scope"]) == (403, f"company:{company}")


def _serve(settings: Settings, port: int, workdir: Path) -> IsolatedPipeline:
    api = IsolatedPipeline(settings, f"p{port}", workdir, api_port=port)
    api.settings = api.settings.model_copy(update={"mongo_database": settings.mongo_database})
    api.start("api")
    wait_for(lambda: http_ok(f"{api.settings.api_url}/health"), 30, f"authtrail serve on {port}")
    return api


def test_a_revoked_key_stops_working_at_once_in_every_api_process(tenants, tmp_path) -> None:
    scoped, _ = tenants
    servers = [_serve(scoped, port, tmp_path / str(port)) for port in (14400, 14401)]
    try:
        key = create_key(scoped, None, "soon revoked").secret_key
        urls = [f"{s.settings.api_url}/audit_events" for s in servers]
        assert [httpx.get(url, headers=bearer(key)).status_code for url in urls] == [200, 200]
        env = {**os.environ, **scoped.to_env(), "AUTHTRAIL_LOG_DIR": str(tmp_path / "cli")}
        revoked = subprocess.run(
            [sys.executable, "-m", "scripts", "keys", "revoke", key.split("_")[1]],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        assert [httpx.get(url, headers=bearer(key)).status_code for url in urls] == [401, 401]
    finally:
        for s in servers:
            ProcessTable(s.processes.run_dir).stop("api")
            s.mongo.close()


def test_keys_never_appear_in_logs_listings_or_the_store(tenants, tmp_path) -> None:
    scoped, _ = tenants
    env = {**os.environ, **scoped.to_env(), "AUTHTRAIL_LOG_DIR": str(tmp_path / "log")}
    created = subprocess.run(
        [sys.executable, "-m", "scripts", "keys", "create", "--operator", "--name", "leak check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    key = created.stdout.strip().splitlines()[-1]
    secret = key.split("_", 2)[2]
    assert key.startswith("at_")
    assert len(secret) == 43  # 256 bits
    server = _serve(scoped, 14402, tmp_path / "serve")
    try:
        for _ in range(3):
            httpx.get(f"{server.settings.api_url}/audit_events", headers=bearer(key))
        httpx.get(f"{server.settings.api_url}/audit_events", headers=bearer(key + "tampered"))
        listing = subprocess.run(
            [sys.executable, "-m", "scripts", "keys", "list"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert key.split("_")[1] in listing.stdout
        assert secret not in listing.stdout
        logs = "".join(p.read_text() for p in tmp_path.rglob("*.log")) + server.log_of("api")
        assert logs
        assert secret not in logs
        with MongoClient(scoped.mongo_uri.get_secret_value()) as mongo:
            database = mongo[scoped.mongo_database]
            stored = database[scoped.api_keys_collection].find_one({"_id": key.split("_")[1]})
            assert stored is not None
            assert secret not in str(stored)
            assert secret not in str(list(database[scoped.api_access_collection].find()))
    finally:
        ProcessTable(server.processes.run_dir).stop("api")
        server.mongo.close()
