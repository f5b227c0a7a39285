"""GET /audit_events/export equals the listing for the same filters — as NDJSON and as CSV read
back through Python's csv module — hostile strings included; it is tenant-forced, resumable
after any event of its own, capped; and ``authtrail export`` writes it to a file and resumes it."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from starlette.testclient import TestClient

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.waiting import http_ok, wait_for
from query_service.app import create_app
from query_service.export_format import CSV_COLUMNS
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.stack.processes import ProcessTable
from tests.integration.test_cursor_api import FAST, pipeline_documents

pytestmark = pytest.mark.stack
HOSTILE = [
    'say "hi", then leave',
    "line one\nline two\r\nline three\rfour",
    "<script>alert(document.cookie)</script>",
    '=HYPERLINK("http://evil","x"),+1,-1,@SUM(A1)',
    "ünïcödé ✓ 漢字 🐛 \u2028\u2029 \u202e",
    "tab\there;semi;colon,comma",
    "",
    "\\ backslash \\\\",
]
INTEGERS = {"timestamp", "user_id", "company_id"}
API_PORT = 14510


@pytest.fixture(scope="module")
def dataset(stack: LocalStack, settings: Settings) -> Iterator[tuple[Settings, list[dict[str, Any]]]]:
    """700 pipeline-shaped events; one in ten carries hostile strings in event_data and resource_id."""
    scoped = settings.model_copy(update={"mongo_database": f"export_{int(time.time() * 1000)}", **FAST})
    documents = pipeline_documents(settings, 700, seed=21, spread_s=900, users=12)
    for i, document in enumerate(documents[::10]):
        text = HOSTILE[i % len(HOSTILE)]
        document["event_data"] = {"title": text, "nested": {"all": HOSTILE, "n": i}, "empty": {}}
        document["resource_id"] = (
            text.replace("\n", " ").replace("\r", " ").replace("\t", " ") or "x"
        ) + f" #{i}"
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        collection = client[scoped.mongo_database][scoped.mongo_collection]
        ensure_indexes(collection)
        collection.insert_many(documents)
        yield scoped, list(collection.find())
        client.drop_database(scoped.mongo_database)


@pytest.fixture(scope="module")
def operator_key(dataset) -> str:
    return create_key(dataset[0], None, "export tests").secret_key


@pytest.fixture(scope="module")
def api(dataset, operator_key) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {operator_key}"}
    with TestClient(create_app(dataset[0]), raise_server_exceptions=False, headers=headers) as client:
        yield client


def listing(client: TestClient, params: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict]:
    """The events of a listing with these filters, newest first (a cursor walk)."""
    events: list[dict] = []
    query: dict[str, Any] = {**params, "order": "newest", "per_page": 1000}
    for _ in range(100):
        body = client.get("/audit_events", params=query, headers=headers).json()
        events += body["data"]
        if body["meta"]["next_cursor"] is None:
            return events
        query = {**params, "cursor": body["meta"]["next_cursor"], "per_page": 1000}
    raise AssertionError("the listing did not end")


def from_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows read back as AuditEvents: digits are numbers, event_data JSON, empty is absent."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(CSV_COLUMNS)
    return [
        {
            name: None
            if cell == "" and name in ("ingested_at", "content_sha256")
            else json.loads(cell)
            if name == "event_data"
            else int(cell)
            if name in INTEGERS
            else cell
            for name, cell in zip(CSV_COLUMNS, row, strict=True)
        }
        for row in rows[1:]
    ]


def from_ndjson(text: str) -> list[dict[str, Any]]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def export(client: TestClient, params: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    response = client.get("/audit_events/export", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"event_type": "create,update,moved"},
        {"event_resource_type": "bug", "event_type": "create,update"},
        {"timestamp_from": 0, "timestamp_to": 4_102_444_800},
        {"user_id": "first"},
        {"company_id": "first"},
    ],
)
def test_the_export_equals_the_listing_in_both_formats(api: TestClient, dataset, params) -> None:
    _, documents = dataset
    params = {k: documents[0][k] if v == "first" else v for k, v in params.items()}
    expected = listing(api, params)
    assert expected
    ndjson = export(api, {**params, "format": "ndjson"})
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert from_ndjson(ndjson.text) == expected
    assert int(ndjson.headers["x-total-count"]) == len(expected)
    as_csv = export(api, {**params, "format": "csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"].startswith('attachment; filename="audit_events-operator-')
    assert as_csv.headers["content-disposition"].endswith('.csv"')
    assert from_csv(as_csv.text) == expected


def test_hostile_strings_survive_the_csv_round_trip(api: TestClient, dataset) -> None:
    _, documents = dataset
    hostile = {d["_id"] for d in documents if d["event_data"].get("nested", {}).get("all") == HOSTILE}
    exported = {event["id"]: event for event in from_csv(export(api, {"format": "csv"}).text)}
    assert hostile <= set(exported)
    for event_id in hostile:
        event = exported[event_id]
        assert event["event_data"]["nested"]["all"] == HOSTILE
        assert event["event_data"]["title"] in HOSTILE
        original = next(d for d in documents if d["_id"] == event_id)
        assert event["resource_id"] == original["resource_id"]


def test_an_export_resumes_after_any_of_its_events(api: TestClient, dataset) -> None:
    params = {"event_type": "create,update", "format": "ndjson"}
    full = from_ndjson(export(api, params).text)
    for index in (0, 1, len(full) // 2, len(full) - 1):
        rest = export(api, {**params, "after_id": full[index]["id"]})
        assert from_ndjson(rest.text) == full[index + 1 :]
        assert int(rest.headers["x-total-count"]) == len(full) - index - 1


def test_an_export_is_tenant_forced_and_resumes_only_from_its_own_events(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    company_a, company_b = sorted({d["company_id"] for d in documents})[:2]
    key_a = {"Authorization": f"Bearer {create_key(scoped, company_a, 'a').secret_key}"}
    mine = from_ndjson(export(api, {}, headers=key_a).text)
    assert mine == listing(api, {"company_id": company_a})
    assert {event["company_id"] for event in mine} == {company_a}
    assert api.get("/audit_events/export", params={"company_id": company_b}, headers=key_a).status_code == 403
    theirs = next(d["_id"] for d in documents if d["company_id"] == company_b)
    refused = api.get("/audit_events/export", params={"after_id": theirs}, headers=key_a)
    assert (refused.status_code, refused.json()["details"][0]["parameter"]) == (400, "after_id")
    outside = next(e["id"] for e in mine if e["event_type"] != "login")
    refused = api.get(
        "/audit_events/export", params={"after_id": outside, "event_type": "login"}, headers=key_a
    )
    assert refused.status_code == 400


def test_an_export_over_the_cap_is_refused_before_it_streams(dataset, operator_key) -> None:
    capped = dataset[0].model_copy(update={"api_export_max_events": 10})
    with TestClient(create_app(capped), headers={"Authorization": f"Bearer {operator_key}"}) as client:
        response = client.get("/audit_events/export")
        assert (response.status_code, response.json()["error"]) == (400, "export_too_large")
        assert "narrow the filters" in response.json()["message"]


# --- authtrail export ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(dataset, tmp_path_factory) -> Iterator[IsolatedPipeline]:
    """`authtrail serve` over the dataset, for the CLI."""
    scoped, _ = dataset
    workdir: Path = tmp_path_factory.mktemp("export-api")
    api = IsolatedPipeline(scoped, f"x{API_PORT}", workdir, api_port=API_PORT)
    api.settings = api.settings.model_copy(update={"mongo_database": scoped.mongo_database})
    api.start("api")
    try:
        wait_for(lambda: http_ok(f"{api.settings.api_url}/health"), 30, "authtrail serve")
        yield api
    finally:
        ProcessTable(api.processes.run_dir).stop("api")
        api.mongo.close()


@pytest.mark.parametrize("format", ["csv", "ndjson"])
def test_the_cli_exports_to_a_file_and_resumes_a_cut_one(
    served: IsolatedPipeline, api: TestClient, dataset, tmp_path: Path, format: str
) -> None:
    scoped, documents = dataset
    company = documents[0]["company_id"]
    key = create_key(scoped, company, "cli").secret_key
    target = tmp_path / f"events.{format}"
    args = ["export", "--company", str(company), "--event-type", "create,update,moved", "--format", format]
    done = served.cli(*args, "-o", str(target), api_key=key)
    assert done.returncode == 0, done.stdout + done.stderr
    complete = target.read_bytes()
    parse = from_csv if format == "csv" else from_ndjson
    expected = listing(api, {"company_id": company, "event_type": "create,update,moved"})
    assert parse(complete.decode()) == expected
    assert len(expected) > 3

    again = served.cli(*args, "-o", str(target), api_key=key)
    assert again.returncode == 1
    assert "--resume" in again.stdout + again.stderr
    assert target.read_bytes() == complete, "an existing file is never overwritten"

    # A cut in the middle of a record, as a dropped connection leaves it.
    lines = complete.split(b"\n")
    cut = b"\n".join(lines[: len(lines) // 2]) + b"\n" + lines[len(lines) // 2][:9]
    target.write_bytes(cut)
    resumed = served.cli(*args, "-o", str(target), "--resume", api_key=key)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert target.read_bytes() == complete

    finished = served.cli(*args, "-o", str(target), "--resume", api_key=key)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert target.read_bytes() == complete, "resuming a complete file adds nothing"


def test_the_cli_reports_the_apis_refusal(served: IsolatedPipeline, dataset, tmp_path: Path) -> None:
    key = create_key(dataset[0], None, "cli").secret_key
    refused = served.cli("export", "--event-type", "no spaces", "-o", str(tmp_path / "x.csv"), api_key=key)
    assert refused.returncode == 1
    assert "event_type" in refused.stdout + refused.stderr
    assert not (tmp_path / "x.csv").exists()


# --- an export the store fails in the middle of -------------------------------------------------
@pytest.mark.control
def test_an_export_the_store_fails_mid_stream_ends_in_an_error_never_in_a_clean_end(
    stack: LocalStack, settings: Settings, tmp_path: Path
) -> None:
    # Through a real `authtrail serve`: what a client sees on the wire when the store goes away
    # after the 200 and a first part of the body were sent.
    total = 20_000
    scoped = settings.model_copy(update={"mongo_database": f"export_cut_{int(time.time() * 1000)}", **FAST})
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        collection = client[scoped.mongo_database][scoped.mongo_collection]
        ensure_indexes(collection)
        collection.insert_many(pipeline_documents(settings, total, seed=22, spread_s=3_600, users=50))
        key = create_key(scoped, None, "export cut").secret_key
        api = IsolatedPipeline(scoped, f"x{API_PORT + 1}", tmp_path, api_port=API_PORT + 1)
        api.settings = api.settings.model_copy(update={"mongo_database": scoped.mongo_database})
        api.start("api", api_export_batch_size=100)
        lines: list[str] = []

        def read_on(response: httpx.Response) -> None:
            for line in response.iter_lines():
                lines.append(line)
                if len(lines) == 100:
                    stack.stop("store")

        try:
            wait_for(lambda: http_ok(f"{api.settings.api_url}/health"), 30, "authtrail serve")
            url = f"{api.settings.api_url}/audit_events/export"
            with httpx.stream("GET", url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as response:
                assert response.status_code == 200
                assert response.headers["X-Total-Count"] == str(total)
                with pytest.raises(httpx.RemoteProtocolError):
                    read_on(response)
        finally:
            stack.start("store")
            ProcessTable(api.processes.run_dir).stop("api")
            api.mongo.close()
            client.drop_database(scoped.mongo_database)
        assert 100 <= len(lines) < total
        assert all(json.loads(line)["id"] for line in lines)  # whole records only, up to the cut
        assert "export cut short" in api.log_of("api")
