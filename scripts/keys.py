"""``authtrail keys create | list | revoke``: API keys for the query API; ``keys checkpoint-key``:
the public key checkpoints are signed with (docs/integrity.md), or a new signing key.

A key is printed once, at creation; the store keeps only its SHA-256. Revocation takes
effect on the next request in every API process (they read the key on every request).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from authtrail.errors import AuthtrailError
from authtrail.integrity.checkpoint import generate_key_pair, key_id, load_public_key, public_key_pem
from authtrail.integrity.signing_key import public_key_path
from authtrail.key_store import create_key, ensure_operator_key, open_keys, revoke_key
from authtrail.logs import configure_logging, get_logger
from authtrail.settings import get_settings
from scripts.console import console

log = get_logger(__name__)
app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


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
    client, keys = open_keys(settings)
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


@app.command("checkpoint-key")
def checkpoint_key(
    create: Annotated[
        Path | None,
        typer.Option(
            help="Create a new signing key here (PKCS#8 PEM, mode 600; the public key beside it, .pub)."
        ),
    ] = None,
) -> None:
    """The key checkpoints are signed with: its id and public key (what companies pin)."""
    settings = get_settings()
    configure_logging(settings, "keys", console_level="WARNING")
    if create is not None:
        console.print(
            f"created checkpoint signing key {generate_key_pair(create, public_key_path(create))}: {create}"
        )
        return
    for path in settings.public_key_paths:
        key = load_public_key(path)
        console.print(f"key id {key_id(key)}  (Ed25519)  {path}")
        print(public_key_pem(key).decode(), end="")
