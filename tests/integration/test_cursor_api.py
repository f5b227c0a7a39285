"""Cursor pagination, incremental sync, lists, resource_id and one event by id, against the real
store: every walk equals a brute-force model of the same data, cursors cannot be tampered with or
replayed elsewhere, an event that becomes visible late (within the settle lag) is not missed, and
each new query shape is answered from an index."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import bson
import pytest
from bson.codec_options import CodecOptions
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from pymongo import MongoClient
from starlette.testclient import TestClient

from authtrail.key_store import create_key
from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.waiting import wait_for
from connect.transformer.stored_documents import stored_documents
from query_service.app import create_app
from scripts.stack.control import LocalStack

pytestmark = pytest.mark.stack
DOCUMENTS = 1200
AWARE = CodecOptions(tz_aware=True)
FAST = {"api_rate_limit_per_s": 10_000.0, "api_rate_limit_burst": 10_000.0}
SHARED_RESOURCE = "BUG-42"


def pipeline_documents(settings: Settings, count: int, seed: int, spread_s: int, users: int) -> list[dict]:
    """Stored documents as the pipeline writes them, with ingestion times of their own: out of
    event-time order and tied to the millisecond (stored_documents ingests all at one instant)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    documents = []
    for i, raw in enumerate(stored_documents(settings, count, seed=seed, spread_s=spread_s, users=users)):
        document = bson.decode(raw, codec_options=AWARE)
        document["ingested_at"] = now - timedelta(seconds=5, milliseconds=rng.randrange(0, 2000))
        if i % 7 == 0:
            document["resource_id"] = SHARED_RESOURCE  # a resource with a history across users
        documents.append(document)
    return documents


@pytest.fixture(scope="module")
def dataset(stack: LocalStack, settings: Settings) -> Iterator[tuple[Settings, list[dict[str, Any]]]]:
    scoped = settings.model_copy(
        update={"mongo_database": f"cursor_{int(time.time() * 1000)}", "api_sync_settle_s": 0.0, **FAST}
    )
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        collection = client[scoped.mongo_database][scoped.mongo_collection]
        ensure_indexes(collection)
        collection.insert_many(pipeline_documents(settings, DOCUMENTS, seed=14, spread_s=400, users=25))
        yield scoped, list(collection.find())
        client.drop_database(scoped.mongo_database)


@pytest.fixture(scope="module")
def operator(dataset) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(dataset[0], None, 'cursor tests').secret_key}"}


@pytest.fixture(scope="module")
def api(dataset, operator) -> Iterator[TestClient]:
    with TestClient(create_app(dataset[0]), raise_server_exceptions=False, headers=operator) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the model ----------------------------------------------------------------------------------
def matches(document: dict[str, Any], params: dict[str, Any]) -> bool:
    epoch = int(document["timestamp"].timestamp())
    listed = {
        name: str(params[name]).split(",") for name in ("event_type", "event_resource_type") if name in params
    }
    return all(
        [
            params.get("user_id") in (None, document["user_id"]),
            params.get("company_id") in (None, document["company_id"]),
            params.get("resource_id") in (None, document["resource_id"]),
            all(document[name] in values for name, values in listed.items()),
            params.get("timestamp_from") is None or epoch >= params["timestamp_from"],
            params.get("timestamp_to") is None or epoch <= params["timestamp_to"],
        ]
    )


def newest_first(documents: list[dict[str, Any]], params: dict[str, Any]) -> list[str]:
    found = [d for d in documents if matches(d, params)]
    return [d["_id"] for d in sorted(found, key=lambda d: (d["timestamp"], d["_id"]), reverse=True)]


def ingestion_order(documents: list[dict[str, Any]], company_id: int | None = None) -> list[str]:
    found = [d for d in documents if company_id in (None, d["company_id"])]
    return [d["_id"] for d in sorted(found, key=lambda d: (d["ingested_at"], d["_id"]))]


def walk(client: TestClient, params: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
    """Follow meta.next_cursor of order=newest to the end; checks the Link header on the way."""
    seen: list[str] = []
    response = client.get("/audit_events", params={**params, "order": "newest"}, headers=headers)
    for _ in range(DOCUMENTS + 2):
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [event["id"] for event in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return seen
        assert response.headers["link"].endswith(f'cursor={quote(cursor, safe="")}>; rel="next"')
        response = client.get("/audit_events", params={**params, "cursor": cursor}, headers=headers)
    raise AssertionError("the walk did not end")


def page_numbers(client: TestClient, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    first = client.get("/audit_events", params=params).json()
    for page in range(1, first["meta"]["total_pages"] + 1):
        body = client.get("/audit_events", params={**params, "page": page}).json()
        seen += [event["id"] for event in body["data"]]
    return seen


def values(documents: list[dict[str, Any]], name: str) -> list[Any]:
    return sorted({d[name] for d in documents})


# --- conformance ---------------------------------------------------------------------------------
@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_cursor_walk_equals_the_page_number_listing(api: TestClient, dataset, data) -> None:
    _, documents = dataset
    epochs = [int(d["timestamp"].timestamp()) for d in documents]
    params: dict[str, Any] = {}
    for name in ("user_id", "company_id"):
        if data.draw(st.integers(0, 3), label=f"filter {name}") == 0:
            params[name] = data.draw(st.sampled_from(values(documents, name)), label=name)
    if data.draw(st.integers(0, 4), label="filter resource_id") == 0:
        params["resource_id"] = SHARED_RESOURCE
    for name in ("event_type", "event_resource_type"):
        if data.draw(st.booleans(), label=f"filter {name}"):
            chosen = data.draw(
                st.lists(st.sampled_from(values(documents, name)), min_size=1, max_size=3), label=name
            )
            params[name] = ",".join(chosen)
    if data.draw(st.booleans(), label="time range"):
        params["timestamp_from"] = data.draw(st.integers(min(epochs), max(epochs)), label="timestamp_from")
        params["timestamp_to"] = data.draw(st.integers(params["timestamp_from"], max(epochs)), label="to")
    params["per_page"] = data.draw(st.sampled_from([1, 7, 50, 333]), label="per_page")
    if params["per_page"] == 1 and len(newest_first(documents, params)) > 150:
        params["per_page"] = 7  # keep one example's walk to a few hundred requests
    expected = newest_first(documents, params)
    assert walk(api, params) == expected
    assert page_numbers(api, params) == expected


def test_a_walk_costs_no_skip_and_reaches_past_the_page_number_window(api: TestClient, dataset) -> None:
    """The last page of a walk is a keyset page like the first (no 100,000-item window)."""
    _, documents = dataset
    assert walk(api, {"per_page": 1000}) == newest_first(documents, {})


def test_the_link_header_is_the_next_request(api: TestClient, dataset) -> None:
    _, documents = dataset
    params = {"event_type": "login,create", "per_page": 40}
    url = "/audit_events?event_type=login,create&per_page=40&order=newest"
    seen: list[str] = []
    for _ in range(100):
        response = api.get(url)
        seen += [event["id"] for event in response.json()["data"]]
        if "link" not in response.headers:
            break
        url = response.headers["link"].removeprefix("<").split(">;")[0]
        assert url.startswith("http://testserver/audit_events?")
    assert seen == newest_first(documents, params)


def test_a_sync_walk_is_everything_in_ingestion_order_and_then_waits(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    company = values(documents, "company_id")[0]
    ends: dict[int | None, str] = {}
    for params, company_id in (({}, None), ({"company_id": company}, company)):
        seen: list[str] = []
        body = api.get("/audit_events", params={**params, "order": "ingested", "per_page": 97}).json()
        for _ in range(DOCUMENTS):
            seen += [event["id"] for event in body["data"]]
            assert body["meta"]["settled_until"].endswith("Z")
            after = body["meta"]["next_cursor"]
            body = api.get("/audit_events", params={**params, "after": after, "per_page": 97}).json()
            if not body["data"]:
                break
        assert seen == ingestion_order(documents, company_id)
        assert body["meta"]["next_cursor"] == after, "with nothing new, the sync cursor stays where it was"
        ends[company_id] = after
    # an event stored after the walk is the next poll's one answer
    late = dict(documents[0], _id="late-1", ingested_at=datetime.now(UTC) - timedelta(milliseconds=1))
    with MongoClient(scoped.mongo_uri.get_secret_value()) as client:
        client[scoped.mongo_database][scoped.mongo_collection].insert_one(late)
    try:
        polled = api.get("/audit_events", params={"after": ends[None], "per_page": 97}).json()
        assert [event["id"] for event in polled["data"]] == ["late-1"]
    finally:
        with MongoClient(scoped.mongo_uri.get_secret_value()) as client:
            client[scoped.mongo_database][scoped.mongo_collection].delete_one({"_id": "late-1"})


def test_a_sync_cursor_on_an_empty_log_starts_at_the_beginning(api: TestClient, dataset) -> None:
    nobody: dict[str, Any] = {"order": "ingested", "company_id": 2**62}
    body = api.get("/audit_events", params=nobody).json()
    assert body["data"] == []
    assert body["meta"]["next_cursor"]
    again = api.get("/audit_events", params={"company_id": 2**62, "after": body["meta"]["next_cursor"]})
    assert again.status_code == 200, again.text


def test_an_event_visible_late_within_the_settle_lag_is_not_missed(
    stack: LocalStack, settings: Settings
) -> None:
    """Why order=ingested holds events back: the sink writes partitions in parallel and in batches,
    so an event can become visible after one with a later ingested_at. A collector with no lag
    moves past it and never sees it; with a lag longer than the delay, it gets every event once.
    (The order of steps, not the clock, makes the late event late: no timing assumption.)"""
    lag_s = 5.0
    database = f"late_{int(time.time() * 1000)}"
    scoped = settings.model_copy(update={"mongo_database": database, **FAST})
    key = bearer(create_key(scoped, None, "late").secret_key)
    mongo: MongoClient = MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True)
    collection = mongo[database][scoped.mongo_collection]
    template = pipeline_documents(settings, 1, seed=3, spread_s=10, users=5)[0]
    collected: dict[str, list[str]] = {"settled": [], "naive": []}
    cursors: dict[str, str | None] = {"settled": None, "naive": None}

    def poll(name: str, client: TestClient) -> list[str]:
        """Everything new for collector ``name``, until an empty page; what it has in all."""
        params: dict[str, Any] = {"after": cursors[name]} if cursors[name] else {"order": "ingested"}
        for _ in range(100):
            body = client.get("/audit_events", params={**params, "per_page": 20}).json()
            collected[name] += [event["id"] for event in body["data"]]
            cursors[name] = body["meta"]["next_cursor"]
            params = {"after": cursors[name]}
            if not body["data"]:
                break
        return collected[name]

    def stored(event_id: str, ingested_at: datetime) -> dict[str, Any]:
        document = dict(template, _id=event_id, ingested_at=ingested_at)
        collection.insert_one(document)
        return document

    try:
        ensure_indexes(collection)
        t0 = datetime.now(UTC)
        early = [stored(f"early-{i}", t0 - timedelta(seconds=120 - i)) for i in range(50)]
        settled = TestClient(create_app(scoped.model_copy(update={"api_sync_settle_s": lag_s})), headers=key)
        naive = TestClient(create_app(scoped.model_copy(update={"api_sync_settle_s": 0.0})), headers=key)
        with settled, naive:
            poll("settled", settled)
            poll("naive", naive)
            assert collected["settled"] == collected["naive"] == [d["_id"] for d in early]
            newest = stored("newest", datetime.now(UTC) - timedelta(milliseconds=1))
            poll("naive", naive)  # the naive collector's cursor is now past `newest`
            # Ingested just before `newest`, visible just after it (another sink task's batch).
            late = stored("late", newest["ingested_at"] - timedelta(milliseconds=1))
            everything = [d["_id"] for d in [*early, late, newest]]
            wait_for(
                lambda: poll("settled", settled) == everything,
                lag_s + 30,
                "the settled collector to have every event, in ingestion order",
                interval_s=0.2,
            )
            poll("naive", naive)
        assert collected["naive"] == [d["_id"] for d in [*early, newest]], "without the lag, `late` is lost"
    finally:
        mongo.drop_database(database)
        mongo.close()


# --- cursors cannot be tampered with or replayed elsewhere --------------------------------------
def problem(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["details"][0]["parameter"], body["details"][0]["problem"]


def test_cursor_tampering_and_replay_across_filters_or_tenants_are_refused(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    company_a, company_b = values(documents, "company_id")[:2]
    key_a = bearer(create_key(scoped, company_a, "a").secret_key)
    key_b = bearer(create_key(scoped, company_b, "b").secret_key)
    first = api.get("/audit_events", params={"order": "newest", "event_type": "login", "per_page": 2}).json()
    cursor = first["meta"]["next_cursor"]
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    status, parameter, text = problem(
        api.get("/audit_events", params={"event_type": "login", "cursor": flipped})
    )
    assert (status, parameter) == (400, "cursor")
    assert "not a cursor this API issued" in text
    status, _, text = problem(api.get("/audit_events", params={"event_type": "create", "cursor": cursor}))
    assert status == 400
    assert "other filters" in text
    assert problem(api.get("/audit_events", params={"cursor": cursor}))[0] == 400  # a filter dropped
    # another tenant: company A's walk continued by company B's key, with the same parameters
    walk_a = api.get("/audit_events", params={"order": "newest", "per_page": 1}, headers=key_a).json()
    replayed = api.get("/audit_events", params={"cursor": walk_a["meta"]["next_cursor"]}, headers=key_b)
    assert problem(replayed)[:2] == (400, "cursor")
    # the operator's walk of company A, continued by company A's own key (another scope)
    operator_a = api.get("/audit_events", params={"order": "newest", "company_id": company_a, "per_page": 1})
    replayed = api.get(
        "/audit_events",
        params={"company_id": company_a, "cursor": operator_a.json()["meta"]["next_cursor"]},
        headers=key_a,
    )
    assert problem(replayed)[:2] == (400, "cursor")
    # one order's cursor in the other's parameter
    sync = api.get("/audit_events", params={"order": "ingested"}).json()["meta"]["next_cursor"]
    assert problem(api.get("/audit_events", params={"cursor": sync}))[:2] == (400, "cursor")
    assert problem(api.get("/audit_events", params={"after": cursor}))[:2] == (400, "after")
    assert problem(api.get("/audit_events", params={"page": 2, "cursor": cursor}))[:2] == (400, "page")


def test_cursors_hold_across_api_processes_and_not_across_deployments(dataset, operator) -> None:
    scoped, _ = dataset
    with (
        TestClient(create_app(scoped), headers=operator) as one,
        TestClient(create_app(scoped), headers=operator) as other,
        TestClient(
            create_app(scoped.model_copy(update={"api_cursor_secret": SecretStr("another deployment" * 3)})),
            headers=operator,
        ) as foreign,
    ):
        cursor = one.get("/audit_events", params={"order": "newest"}).json()["meta"]["next_cursor"]
        assert other.get("/audit_events", params={"cursor": cursor}).status_code == 200
        assert foreign.get("/audit_events", params={"cursor": cursor}).status_code == 400


# --- one event by id ----------------------------------------------------------------------------
def test_one_event_by_id_and_never_another_tenants(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    company_a, company_b = values(documents, "company_id")[:2]
    mine = next(d for d in documents if d["company_id"] == company_a)
    theirs = next(d for d in documents if d["company_id"] == company_b)
    key_a = bearer(create_key(scoped, company_a, "a").secret_key)
    listed = api.get("/audit_events", params={"per_page": 1000}).json()["data"]
    expected = next(event for event in listed if event["id"] == mine["_id"])
    assert api.get(f"/audit_events/{quote(mine['_id'])}").json() == expected
    assert api.get(f"/audit_events/{quote(mine['_id'])}", headers=key_a).json() == expected
    absent = api.get("/audit_events/no-such-event", headers=key_a)
    other_tenants = api.get(f"/audit_events/{quote(theirs['_id'])}", headers=key_a)
    assert (other_tenants.status_code, other_tenants.json()) == (absent.status_code, absent.json())
    assert absent.status_code == 404
    assert api.get(f"/audit_events/{quote(theirs['_id'])}").status_code == 200  # the operator's
    assert api.get("/audit_events/a%00b").status_code == 400
    assert api.get(f"/audit_events/{quote(mine['_id'])}?company_id={company_a}").status_code == 400
    assert api.get("/audit_events/" + "x" * 201).status_code == 400


def test_an_id_with_slashes_commas_and_unicode_is_found(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    odd = dict(documents[0], _id='team/42, "ünïcödé" <b> #1?')
    with MongoClient(scoped.mongo_uri.get_secret_value()) as client:
        client[scoped.mongo_database][scoped.mongo_collection].insert_one(odd)
    try:
        response = api.get(f"/audit_events/{quote(odd['_id'], safe='')}")
        assert (response.status_code, response.json()["id"]) == (200, odd["_id"])
    finally:
        with MongoClient(scoped.mongo_uri.get_secret_value()) as client:
            client[scoped.mongo_database][scoped.mongo_collection].delete_one({"_id": odd["_id"]})


def test_the_new_endpoints_are_recorded(api: TestClient, dataset) -> None:
    scoped, documents = dataset
    key = create_key(scoped, None, "recorded")
    headers = bearer(key.secret_key)
    api.get("/audit_events", params={"order": "newest", "per_page": 3}, headers=headers)
    api.get(f"/audit_events/{quote(documents[0]['_id'])}", headers=headers)
    api.get("/audit_events/nothing-here", headers=headers)
    api.get("/audit_events/export", params={"format": "csv", "resource_id": SHARED_RESOURCE}, headers=headers)
    with MongoClient(scoped.mongo_uri.get_secret_value()) as mongo:
        access = mongo[scoped.mongo_database][scoped.api_access_collection]

        def four_records() -> list[dict[str, Any]] | None:
            found = list(access.find({"key_id": key.key_id}).sort("at", 1))
            return found if len(found) >= 4 else None

        records = wait_for(four_records, 30, "access records in the store")
    assert records is not None
    cursor_page, by_id, missing, export = records
    assert (cursor_page["path"], cursor_page["status"], cursor_page["result_count"]) == (
        "/audit_events",
        200,
        3,
    )
    assert cursor_page["params"] == "order=newest&per_page=3"
    assert (by_id["status"], by_id["result_count"]) == (200, 1)
    assert (missing["path"], missing["status"], missing["result_count"]) == (
        "/audit_events/nothing-here",
        404,
        0,
    )
    expected = len(newest_first(documents, {"resource_id": SHARED_RESOURCE}))
    assert (export["path"], export["status"]) == ("/audit_events/export", 200)
    assert (export["result_count"], export["total_count"]) == (expected, expected)
    assert export["params"] == f"format=csv&resource_id={SHARED_RESOURCE}"


# --- each new query shape is answered from an index ---------------------------------------------
def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _winning_stages(plan: dict[str, Any]) -> Iterator[str]:
    yield plan.get("stage", "")
    for name in ("inputStage", "inputStages"):
        child = plan.get(name)
        for stage in child if isinstance(child, list) else [child] if child else []:
            yield from _winning_stages(stage)


def test_the_new_query_shapes_are_served_from_indexes(stack: LocalStack, settings: Settings) -> None:
    """The exact filters the API sends (from query.py: keyset halves, one filter per listed value,
    sync, resource history, an id within a company), each sorted as the API sorts: an index scan in
    the order — on FerretDB through the pushdown patch (exactPushdown, no Seq Scan, no Sort), on
    MongoDB an IXSCAN with no SORT stage."""
    from query_service.params import AuditQuery
    from query_service.query import INGESTED, NEWEST, disjuncts, keyset_filters, sync_filter

    database = f"explain_cursor_{int(time.time() * 1000)}"
    client: MongoClient = MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True)
    collection = client[database][settings.mongo_collection]
    try:
        ensure_indexes(collection)
        documents = pipeline_documents(settings, 20_000, seed=9, spread_s=30 * 86_400, users=500)
        for start in range(0, len(documents), 1000):
            collection.insert_many(documents[start : start + 1000])
        is_ferretdb = "ferretdbVersion" in client.admin.command("buildInfo")
        if is_ferretdb:
            client[database].command("compact", settings.mongo_collection)  # VACUUM ANALYZE
        sample = documents[0]
        company = sample["company_id"]
        middle = NEWEST.position(sorted(documents, key=lambda d: (d["timestamp"], d["_id"]))[10_000])
        synced = INGESTED.position(sorted(documents, key=lambda d: (d["ingested_at"], d["_id"]))[10_000])
        horizon = datetime.now(UTC)
        shapes: dict[str, tuple[dict[str, Any], list[tuple[str, int]]]] = {}

        def add(name: str, filters: list[dict[str, Any]], order, after) -> None:
            for i, conditions in enumerate(q for f in filters for q in keyset_filters(f, order, after)):
                shapes[f"{name} #{i}"] = (conditions, order.sort)

        add("newest keyset", disjuncts(AuditQuery()), NEWEST, middle)
        add("company keyset", disjuncts(AuditQuery(company_id=company)), NEWEST, middle)
        add(
            "listed types",
            disjuncts(AuditQuery(company_id=company, event_type=("login", "create"))),
            NEWEST,
            None,
        )
        add("resource", disjuncts(AuditQuery(resource_id=SHARED_RESOURCE)), NEWEST, middle)
        add(
            "company resource",
            disjuncts(AuditQuery(company_id=company, resource_id=SHARED_RESOURCE)),
            NEWEST,
            None,
        )
        add("sync", [sync_filter(AuditQuery(), horizon)], INGESTED, synced)
        add("company sync", [sync_filter(AuditQuery(company_id=company), horizon)], INGESTED, synced)
        shapes["id within a company"] = ({"_id": sample["_id"], "company_id": company}, [])
        for name, (conditions, sort) in shapes.items():
            if is_ferretdb:
                command = {"find": settings.mongo_collection, "filter": conditions, "limit": bson.Int64(51)}
                if sort:
                    command["sort"] = dict(sort)
                explained = client[database].command("explain", command)
                assert explained["exactPushdown"], name
                nodes = [n["Node Type"] for n in _plan_nodes(explained["queryPlanner"]["Plan"])]
                assert "Seq Scan" not in nodes, f"{name}: {nodes}"
                assert any("Index" in node for node in nodes), f"{name}: {nodes}"
                assert "Sort" not in nodes, f"{name}: {nodes}"
            else:
                plan = collection.find(conditions, sort=sort or None, limit=51).explain()
                stages = list(_winning_stages(plan["queryPlanner"]["winningPlan"]))
                assert "COLLSCAN" not in stages, f"{name}: {stages}"
                assert "SORT" not in stages, f"{name}: {stages}"
                assert any(s in ("IXSCAN", "IDHACK", "EXPRESS_IXSCAN") for s in stages), f"{name}: {stages}"
    finally:
        client.drop_database(database)
        client.close()


def test_page_numbers_with_lists_answer_exact_totals(api: TestClient, dataset) -> None:
    _, documents = dataset
    params: dict[str, Any] = {
        "event_type": "login,moved",
        "event_resource_type": "bug,session",
        "per_page": 30,
        "page": 3,
    }
    body = api.get("/audit_events", params=params).json()
    expected = newest_first(documents, params)
    assert body["meta"] == {
        "current_page": 3,
        "total_pages": math.ceil(len(expected) / 30),
        "per_page": 30,
        "total_count": len(expected),
    }
    assert [event["id"] for event in body["data"]] == expected[60:90]
