"""The key cursors are signed with: ``AUTHTRAIL_API_CURSOR_SECRET``, else one kept in the store.

A cursor must verify in whichever API process serves the next request — another uvicorn worker,
another replica, the same process after a restart — and a sync cursor is kept by a collector for
days. A key generated per process would break all of that; so when none is configured, the first
process that needs one stores a random key (an insert that only one process can win) and every
process reads that one. It is fetched on first use, not at start-up, so the API still starts
(and answers 503) while the store is down.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from authtrail.logs import get_logger
from authtrail.settings import Settings
from query_service.cursor import CursorCodec
from query_service.store import unavailable

log = get_logger(__name__)
CURSOR_KEY_ID = "cursor_hmac"


class CursorSigning:
    def __init__(self, settings: Settings, secrets_collection: AsyncCollection[dict[str, Any]]) -> None:
        configured = settings.api_cursor_secret
        self._codec = CursorCodec(configured.get_secret_value().encode()) if configured else None
        self._collection = secrets_collection
        self._lock = asyncio.Lock()

    async def codec(self) -> CursorCodec:
        if self._codec is None:
            async with self._lock:
                if self._codec is None:
                    self._codec = CursorCodec(await self._stored_secret())
        return self._codec

    async def _stored_secret(self) -> bytes:
        try:
            found = await self._collection.find_one({"_id": CURSOR_KEY_ID})
            if found is None:
                try:
                    await self._collection.insert_one({"_id": CURSOR_KEY_ID, "secret": secrets.token_hex(32)})
                    log.info("cursor signing key created in the store", collection=self._collection.full_name)
                except DuplicateKeyError:
                    pass  # another process created it first: use theirs
                found = await self._collection.find_one({"_id": CURSOR_KEY_ID})
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        if found is None or not isinstance(found.get("secret"), str):
            raise RuntimeError(f"{self._collection.full_name} holds no usable cursor key")
        return str(found["secret"]).encode()
