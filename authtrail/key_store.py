"""API keys in the store: create (the secret shown once), revoke, check, and the key CLI
clients present. The store keeps only each key's SHA-256 (``authtrail.api_keys``); a revocation
takes effect on the next request in every API process (they read the key on every request)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from authtrail.api_keys import NewKey, new_key, parse_key
from authtrail.errors import DependencyUnavailableError
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)


def open_keys(settings: Settings) -> tuple[MongoClient[dict[str, Any]], Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
    )
    return client, client[settings.mongo_database][settings.api_keys_collection]


def create_key(settings: Settings, company_id: int | None, name: str) -> NewKey:
    key = new_key(company_id, name)
    client, keys = open_keys(settings)
    try:
        keys.insert_one(key.record)
    except PyMongoError as exc:
        raise DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    log.info(
        "api key created",
        key_id=key.key_id,
        name=name,
        scope="operator" if company_id is None else f"company:{company_id}",
    )
    return key


def revoke_key(settings: Settings, key_id: str) -> bool:
    client, keys = open_keys(settings)
    try:
        result = keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
    except PyMongoError as exc:
        raise DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    log.info("api key revoked", key_id=key_id, revoked=bool(result.modified_count))
    return bool(result.modified_count)


def key_is_live(settings: Settings, presented: str) -> bool:
    parsed = parse_key(presented)
    if parsed is None:
        return False
    client, keys = open_keys(settings)
    try:
        return keys.count_documents({"_id": parsed[0], "revoked_at": None}) == 1
    finally:
        client.close()


def dev_key_file(settings: Settings) -> Path:
    """Where `authtrail up` keeps the development operator key (inside the gitignored stack)."""
    return settings.stack_dir / "operator.key"


def client_key(settings: Settings) -> str | None:
    """The key CLI clients present: AUTHTRAIL_API_KEY, else AUTHTRAIL_API_KEY_FILE, else the
    development operator key."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    for path in (settings.api_key_file, dev_key_file(settings)):
        if path is not None and path.exists():
            return path.read_text().strip()
    return None


def ensure_operator_key(settings: Settings, path: Path, name: str) -> bool:
    """Make ``path`` hold a live operator key (mode 600); True if a new one was created."""
    if path.exists() and key_is_live(settings, path.read_text().strip()):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(create_key(settings, None, name).secret_key + "\n")
    path.chmod(0o600)
    return True
