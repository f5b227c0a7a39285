"""API keys: what a key looks like, how it is stored, how it is checked.

A key reads ``at_<key id>_<secret>``: the key id (public, 48 bits) names the stored record so
it can be listed and revoked; the secret is 256 random bits and is never stored — only its
SHA-256 is (a slow password hash buys nothing for a secret this long). Checking a key is a
lookup by id plus a constant-time comparison of hashes.

Records live in one collection of the store, so every API replica sees the same keys, and
the API reads the record on every request: a revocation takes effect on the next request,
everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = "at"
_KEY = re.compile(r"at_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key id and its scope (one company, or every company for operators)."""

    key_id: str
    name: str
    company_id: int | None  # None: an operator key

    @property
    def scope(self) -> str:
        return "operator" if self.company_id is None else f"company:{self.company_id}"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_key: str  # shown once, never stored
    record: dict[str, Any]


def new_key(company_id: int | None, name: str, now: datetime | None = None) -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = {
        "_id": key_id,
        "name": name,
        "company_id": company_id,
        "secret_sha256": _digest(secret),
        "created_at": now or datetime.now(UTC),
        "revoked_at": None,
    }
    return NewKey(key_id=key_id, secret_key=f"{PREFIX}_{key_id}_{secret}", record=record)


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = _KEY.fullmatch(presented)
    return (match.group(1), match.group(2)) if match else None


def verify(record: dict[str, Any] | None, secret: str) -> Principal | None:
    """The principal a record grants for ``secret``, or None (unknown, wrong or revoked)."""
    expected = record.get("secret_sha256", "") if record else "0" * 64
    matches = hmac.compare_digest(_digest(secret), str(expected))  # compared even for an unknown id
    if record is None or not matches or record.get("revoked_at") is not None:
        return None
    return Principal(
        key_id=str(record["_id"]), name=str(record.get("name", "")), company_id=record.get("company_id")
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
