"""The audit collection: where it is and the indexes the query API relies on.

Every index ends with ``timestamp, _id`` descending: the API's order (newest first, ties by
id), so each filter reads its page straight from an index instead of sorting.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.collection import Collection

from authtrail.logs import get_logger

log = get_logger(__name__)
_NEWEST_FIRST = [("timestamp", DESCENDING), ("_id", DESCENDING)]

INDEXES = [
    IndexModel(_NEWEST_FIRST, name="newest_first"),
    IndexModel([("company_id", ASCENDING), *_NEWEST_FIRST], name="company"),
    IndexModel([("user_id", ASCENDING), *_NEWEST_FIRST], name="user"),
    IndexModel([("event_type", ASCENDING), *_NEWEST_FIRST], name="event_type"),
    IndexModel([("event_resource_type", ASCENDING), *_NEWEST_FIRST], name="resource_type"),
    IndexModel(
        [("company_id", ASCENDING), ("event_resource_type", ASCENDING), *_NEWEST_FIRST],
        name="company_resource_type",
    ),
    IndexModel(
        [("company_id", ASCENDING), ("event_type", ASCENDING), *_NEWEST_FIRST], name="company_event_type"
    ),
]


def ensure_indexes(collection: Collection[dict[str, object]]) -> list[str]:
    """Create the query indexes; a no-op for those that exist (same name and keys)."""
    names = collection.create_indexes(INDEXES)
    log.info("indexes ensured", collection=collection.full_name, indexes=names)
    return names
