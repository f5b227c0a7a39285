"""The MongoDB filter is built in one place from validated values; documents leave as AuditEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bson import ObjectId
from bson.int64 import Int64
from hypothesis import given
from hypothesis import strategies as st

from authtrail.audit_event import audit_event, iso_utc
from authtrail.store import INDEXES
from query_service.params import AuditQuery
from query_service.query import NEWEST_FIRST, disjuncts
from query_service.serialize import dumps


def test_filters_combine_with_and_and_times_are_inclusive_dates() -> None:
    query = AuditQuery(
        company_id=7,
        user_id=9,
        event_type=("login",),
        event_resource_type=("session",),
        timestamp_from=1_652_502_000,
        timestamp_to=1_652_588_400,
    )
    assert disjuncts(query) == [
        {
            "company_id": 7,
            "user_id": 9,
            "event_type": "login",
            "event_resource_type": "session",
            "timestamp": {
                "$gte": datetime(2022, 5, 14, 4, 20, tzinfo=UTC),
                "$lte": datetime(2022, 5, 15, 4, 20, tzinfo=UTC),
            },
        }
    ]


def test_no_filter_is_an_empty_filter_and_open_ranges_have_one_bound() -> None:
    assert disjuncts(AuditQuery()) == [{}]
    assert disjuncts(AuditQuery(timestamp_from=0)) == [
        {"timestamp": {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}}
    ]


def test_skip_follows_page_and_per_page() -> None:
    assert AuditQuery(page=1, per_page=10).skip == 0
    assert AuditQuery(page=1000, per_page=10).skip == 9990


def test_every_filter_has_an_index_serving_it_with_the_sort() -> None:
    """Equality fields first, then the sort keys (MongoDB's equality-sort-range rule): each
    common filter is a prefix of an index whose remaining keys are exactly the sort."""
    keys = [list(index.document["key"].items()) for index in INDEXES]
    shapes = [
        (),
        ("company_id",),
        ("user_id",),
        ("event_type",),
        ("event_resource_type",),
        ("company_id", "event_resource_type"),
        ("company_id", "event_type"),
    ]
    for equality in shapes:
        assert any(
            {k for k, _ in key[: len(equality)]} == set(equality) and key[len(equality) :] == NEWEST_FIRST
            for key in keys
        ), f"no index serves {equality} + newest-first"


def test_documents_become_audit_events_without_mongo_internals() -> None:
    document = {
        "_id": "7-9-abc",
        "timestamp": datetime(2022, 5, 14, 4, 20, tzinfo=UTC),
        "user_id": Int64(9),
        "company_id": Int64(7),
        "event_type": "login",
        "event_resource_type": "session",
        "resource_id": "s-1",
        "event_data": {"ip": "10.0.0.1", "ref": ObjectId("65f0c0ffee0000000000beef")},
        "content_sha256": "ab" * 32,
        "ingested_at": datetime(2022, 5, 14, 4, 20, 1, 123456, tzinfo=UTC),
        "kafka_topic": "audit.events.raw",
        "kafka_partition": 1,
        "kafka_offset": Int64(5),
    }
    event = audit_event(document)
    assert event == {
        "id": "7-9-abc",
        "timestamp": 1_652_502_000,
        "user_id": 9,
        "company_id": 7,
        "event_type": "login",
        "event_resource_type": "session",
        "resource_id": "s-1",
        "event_data": {"ip": "10.0.0.1", "ref": ObjectId("65f0c0ffee0000000000beef")},
        "ingested_at": "2022-05-14T04:20:01.123Z",
        "content_sha256": "ab" * 32,
    }
    assert b'"ref":"65f0c0ffee0000000000beef"' in dumps(event)


@given(moment=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)))
def test_a_date_decoded_naive_renders_as_the_same_date_decoded_in_utc(moment: datetime) -> None:
    # Pages are decoded with naive dates (cheaper); a single event and sealing read them aware.
    # Both must render the same bytes: a company's proof hashes the event as the API returns it.
    naive = {"_id": "e", "timestamp": moment, "ingested_at": moment}
    aware = {"_id": "e", "timestamp": moment.replace(tzinfo=UTC), "ingested_at": moment.replace(tzinfo=UTC)}
    assert dumps(audit_event(naive)) == dumps(audit_event(aware))
    assert iso_utc(moment) == iso_utc(moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-7))))
