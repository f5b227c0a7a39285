"""The audit collection: where it is and the indexes the query API relies on.

Every index ends with the keys of one of the API's two orders: ``timestamp, _id`` descending
(newest first, ties by id) or ``ingested_at, _id`` ascending (incremental sync), so each filter
reads its page straight from an index instead of sorting (MongoDB's equality-sort-range rule:
equality fields first, then the sort keys, whose ranges a keyset page bounds).
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.collection import Collection

from authtrail.logs import get_logger

log = get_logger(__name__)
# The API's order: newest first, ties broken by id — a total order, so pages never overlap.
NEWEST_FIRST = [("timestamp", DESCENDING), ("_id", DESCENDING)]
# Incremental sync: in the order events were ingested, ties broken by id — also total.
INGESTED_FIRST = [("ingested_at", ASCENDING), ("_id", ASCENDING)]

INDEXES = [
    IndexModel(NEWEST_FIRST, name="newest_first"),
    IndexModel([("company_id", ASCENDING), *NEWEST_FIRST], name="company"),
    IndexModel([("user_id", ASCENDING), *NEWEST_FIRST], name="user"),
    IndexModel([("event_type", ASCENDING), *NEWEST_FIRST], name="event_type"),
    IndexModel([("event_resource_type", ASCENDING), *NEWEST_FIRST], name="resource_type"),
    IndexModel(
        [("company_id", ASCENDING), ("event_resource_type", ASCENDING), *NEWEST_FIRST],
        name="company_resource_type",
    ),
    IndexModel(
        [("company_id", ASCENDING), ("event_type", ASCENDING), *NEWEST_FIRST], name="company_event_type"
    ),
    # One resource's history ("BUG-123"): an operator's, and a company key's (always with its company).
    IndexModel([("resource_id", ASCENDING), *NEWEST_FIRST], name="resource"),
    IndexModel(
        [("company_id", ASCENDING), ("resource_id", ASCENDING), *NEWEST_FIRST], name="company_resource"
    ),
    # Incremental sync (order=ingested), which filters by company only.
    IndexModel(INGESTED_FIRST, name="ingested"),
    IndexModel([("company_id", ASCENDING), *INGESTED_FIRST], name="company_ingested"),
]


def ensure_indexes(collection: Collection[dict[str, object]]) -> list[str]:
    """Create the query indexes that are missing; returns the names created.

    One index per command: FerretDB 1.24 panics on a multi-index ``createIndexes`` whose
    indexes all exist already (MongoDB would accept it as a no-op).
    """
    existing = {index["name"] for index in collection.list_indexes()}
    created = []
    for index in INDEXES:
        if index.document["name"] not in existing:
            created += collection.create_indexes([index])
    log.info("indexes ensured", collection=collection.full_name, created=created, existing=sorted(existing))
    return created
