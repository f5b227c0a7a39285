"""Who is calling: bearer API keys checked against the store on every request.

No cache on purpose: a revoked key must stop working on the next request in every replica.
The lookup is by ``_id`` in a small collection (an index probe on MongoDB).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from starlette.requests import Request

from authtrail.api_keys import Principal, parse_key, verify
from authtrail.errors import AuthtrailError
from query_service.params import AuditQuery
from query_service.store import StoreUnavailableError, unavailable


class UnauthorizedError(AuthtrailError):
    """Missing, malformed, unknown or revoked key → 401."""

    def __init__(self, message: str, invalid_token: bool) -> None:
        super().__init__(message)
        self.invalid_token = invalid_token


class ForbiddenError(AuthtrailError):
    """A valid key asking for what its scope does not cover → 403."""


class KeyRing:
    def __init__(self, keys: AsyncCollection[dict[str, Any]]) -> None:
        self.keys = keys

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise UnauthorizedError(
                "an API key is required: Authorization: Bearer <key>", invalid_token=False
            )
        scheme, _, token = header.partition(" ")
        parsed = parse_key(token.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise UnauthorizedError("the Authorization header is not 'Bearer <API key>'", invalid_token=True)
        key_id, secret = parsed
        try:
            record = await self.keys.find_one({"_id": key_id})
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        principal = verify(record, secret)
        if principal is None:
            raise UnauthorizedError("the API key is not valid (unknown or revoked)", invalid_token=True)
        return principal


def scoped(query: AuditQuery, principal: Principal) -> AuditQuery:
    """A company key sees its own company only: the filter is forced here, server-side.

    Asking for another company is refused (403) rather than answered with an empty page,
    which would hide the mistake from the caller (and leak nothing either way).
    """
    if principal.company_id is None:
        return query
    if query.company_id is not None and query.company_id != principal.company_id:
        raise ForbiddenError(f"this key may read company {principal.company_id} only")
    return dataclasses.replace(query, company_id=principal.company_id)


__all__ = ["ForbiddenError", "KeyRing", "StoreUnavailableError", "UnauthorizedError", "scoped"]
