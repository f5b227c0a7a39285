"""``authtrail keys create | list | revoke``: API keys for the query API.

A key is printed once, at creation; the store keeps only its SHA-256. Revocation takes
effect on the next request in every API process (they read the key on every request).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError
from rich.table import Table

from authtrail.api_keys import NewKey, new_key, parse_key
from authtrail.errors import AuthtrailError, DependencyUnavailableError
from authtrail.logs import configure_logging, get_logger
from authtrail.settings import Settings, get_settings
from scripts.console import console

log = get_logger(__name__)
app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _keys(settings: Settings) -> tuple[MongoClient[dict[str, Any]], Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
    )
    return client, client[settings.mongo_database][settings.api_keys_collection]


def create_key(settings: Settings, company_id: int | None, name: str) -> NewKey:
    key = new_key(company_id, name)
    client, keys = _keys(settings)
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
    client, keys = _keys(settings)
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
    client, keys = _keys(settings)
    try:
        return keys.count_documents({"_id": parsed[0], "revoked_at": None}) == 1
    finally:
        client.close()


@app.command()
def create(
    company: Annotated[int | None, typer.Option(min=1, help="The one company this key may read.")] = None,
    operator: Annotated[bool, typer.Option("--operator", help="A key that may read every company.")] = False,
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
) -> None:
    """Create a key scoped to one company (--company N) or an operator key (--operator)."""
    if (company is None) == (not operator):
        raise typer.BadParameter("give exactly one of --company N or --operator")
    settings = get_settings()
    configure_logging(settings, "keys", console_level="WARNING")
    key = create_key(settings, company, name or ("operator" if operator else f"company {company}"))
    console.print(f"key id: {key.key_id}  scope: {'operator' if operator else f'company {company}'}")
    console.print("the key (shown once; store it now):")
    print(key.secret_key)


@app.command("list")
def list_keys() -> None:
    """Every key: id, name, scope, created, revoked (never the key itself)."""
    settings = get_settings()
    configure_logging(settings, "keys", console_level="WARNING")
    client, keys = _keys(settings)
    try:
        records = list(keys.find({}, {"secret_sha256": 0}).sort("created_at", 1))
    finally:
        client.close()
    table = Table("key id", "name", "scope", "created", "revoked")
    for r in records:
        table.add_row(
            r["_id"],
            r.get("name", ""),
            "operator" if r.get("company_id") is None else f"company {r['company_id']}",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r.get("revoked_at") else "",
        )
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (from `keys list`).")]) -> None:
    """Revoke a key; it stops working on the next request, in every API process."""
    settings = get_settings()
    configure_logging(settings, "keys", console_level="WARNING")
    if not revoke_key(settings, key_id):
        raise KeyNotFoundError(f"no live key with id {key_id!r}")
    console.print(f"revoked {key_id}")


class KeyNotFoundError(AuthtrailError):
    pass


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


@app.command("ensure-operator")
def ensure_operator(
    file: Annotated[Path, typer.Option(help="Where the operator key is kept.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "bootstrap operator",
) -> None:
    """Make FILE hold a live operator key, creating one only if needed (for deployments)."""
    settings = get_settings()
    configure_logging(settings, "keys", console_level="WARNING")
    created = ensure_operator_key(settings, file, name)
    console.print(f"{'created' if created else 'kept'} the operator key in {file}")
