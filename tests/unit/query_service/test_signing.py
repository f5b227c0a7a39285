"""The cursor key: the configured one, else the one kept in the store — the same in every process,
whichever process created it first — fetched once, on first use."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from authtrail.settings import load_settings
from query_service.events import settled_horizon
from query_service.query import NEWEST, Position
from query_service.signing import CURSOR_KEY_ID, CursorSigning
from query_service.store import StoreUnavailableError

POSITION = Position(datetime(2026, 5, 1, tzinfo=UTC), "e1")


class SharedSecrets:
    """A secrets collection shared by several API processes; ``rival`` inserts first."""

    full_name = "authtrail.api_secrets"

    def __init__(self, rival: str | None = None, down: bool = False) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.rival = rival
        self.down = down
        self.reads = 0

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        if self.down:
            raise ServerSelectionTimeoutError("down")
        self.reads += 1
        return self.documents.get(query["_id"])

    async def insert_one(self, document: dict[str, Any]) -> None:
        if self.rival is not None:  # another process won the race between our read and our insert
            self.documents[CURSOR_KEY_ID] = {"_id": CURSOR_KEY_ID, "secret": self.rival}
            raise DuplicateKeyError("E11000 duplicate key")
        self.documents[document["_id"]] = document


def signing(collection: SharedSecrets, **overrides: Any) -> CursorSigning:
    return CursorSigning(load_settings(**overrides), collection)  # type: ignore[arg-type]


def test_processes_without_a_configured_key_share_the_stored_one() -> None:
    async def scenario() -> None:
        shared = SharedSecrets()
        first, second = signing(shared), signing(shared)
        token = (await first.codec()).encode(NEWEST, POSITION, "b")
        assert (await second.codec()).decode(token, NEWEST, "b") == POSITION
        reads = shared.reads
        await first.codec()
        assert shared.reads == reads, "fetched once per process"

    asyncio.run(scenario())


def test_the_process_that_loses_the_race_uses_the_winners_key() -> None:
    async def scenario() -> None:
        winner_key = "w" * 64
        loser = signing(SharedSecrets(rival=winner_key))
        winner = signing(SharedSecrets(), api_cursor_secret=winner_key)
        token = (await winner.codec()).encode(NEWEST, POSITION, "b")
        assert (await loser.codec()).decode(token, NEWEST, "b") == POSITION

    asyncio.run(scenario())


def test_a_configured_key_is_used_without_asking_the_store() -> None:
    async def scenario() -> None:
        down = SharedSecrets(down=True)
        codec = await signing(down, api_cursor_secret="x" * 40).codec()
        assert codec.decode(codec.encode(NEWEST, POSITION, "b"), NEWEST, "b") == POSITION

    asyncio.run(scenario())


def test_a_down_store_is_a_503_and_the_next_request_tries_again() -> None:
    async def scenario() -> None:
        shared = SharedSecrets(down=True)
        lazy = signing(shared)
        with pytest.raises(StoreUnavailableError):
            await lazy.codec()
        shared.down = False
        await lazy.codec()

    asyncio.run(scenario())


def test_an_empty_configured_key_means_unset() -> None:
    assert load_settings(api_cursor_secret="").api_cursor_secret is None


def test_the_sync_horizon_is_the_settle_lag_ago_to_the_millisecond() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    assert settled_horizon(120, now) == datetime(2026, 5, 1, 11, 58, 0, 123_000, tzinfo=UTC)
