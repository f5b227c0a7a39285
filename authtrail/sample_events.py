"""Realistic random audit events, the seed's shape: users up to 100,000,000 in 1,000
companies (the company derives from the user), the usual event and resource types, and
title/body text. Reproducible with a seed."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

MAX_USER_ID = 100_000_000
COMPANIES = 1_000
EVENT_TYPES = ("create", "update", "delete", "moved", "assigned", "login")
RESOURCE_TYPES = ("bug", "comment")
STATES = ("todo", "in_progress", "in_review", "done", "wont_fix")
WORDS = (
    "crash",
    "login",
    "page",
    "save",
    "button",
    "null",
    "pointer",
    "timeout",
    "export",
    "report",
    "search",
    "slow",
    "dashboard",
    "upload",
    "avatar",
    "email",
    "notification",
    "broken",
    "layout",
    "mobile",
    "safari",
    "firefox",
    "permissions",
    "admin",
    "billing",
    "invoice",
    "duplicate",
    "sync",
    "offline",
    "cache",
    "memory",
    "leak",
    "flaky",
    "test",
    "build",
    "release",
)


def company_of(user_id: int) -> int:
    """Every user belongs to one of 1,000 companies, always the same one."""
    return (user_id * 2_654_435_761) % COMPANIES + 1


class EventFactory:
    def __init__(
        self, seed: int | None = None, clock: Callable[[], float] = time.time, users: int = MAX_USER_ID
    ) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.users = users

    def user(self) -> int:
        return self.rng.randint(1, self.users)

    def event(self, user_id: int | None = None, event_type: str | None = None) -> dict[str, Any]:
        user_id = user_id if user_id is not None else self.user()
        company_id = company_of(user_id)
        event_type = event_type or self.rng.choice(EVENT_TYPES)
        resource_type = "session" if event_type == "login" else self.rng.choice(RESOURCE_TYPES)
        event_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return {
            "id": f"{company_id}-{user_id}-{event_id}",
            "timestamp": int(self.clock()),
            "user_id": user_id,
            "company_id": company_id,
            "event_type": event_type,
            "resource_type": resource_type,
            "resource_id": self._resource_id(resource_type, user_id),
            "event_data": json.dumps(self._details(event_type, resource_type), separators=(",", ":")),
        }

    def _resource_id(self, resource_type: str, user_id: int) -> str:
        if resource_type == "session":
            return f"session-{user_id}-{self.rng.getrandbits(32):08x}"
        prefix = "BUG" if resource_type == "bug" else "COMMENT"
        return f"{prefix}-{self.rng.randint(1, 5_000_000)}"

    def _text(self, words: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(words))

    def _details(self, event_type: str, resource_type: str) -> dict[str, Any]:
        if event_type == "login":
            return {
                "ip": f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
                "user_agent": self.rng.choice(("Firefox/131", "Chrome/130", "Safari/18")),
            }
        if event_type == "moved":
            source, target = self.rng.sample(STATES, 2)
            return {"from": source, "to": target}
        if event_type == "assigned":
            return {"assignee_id": self.user()}
        if event_type == "delete":
            return {"reason": self._text(3)}
        details: dict[str, Any] = {"body": self._text(self.rng.randint(8, 30))}
        if resource_type == "bug":
            details["title"] = self._text(self.rng.randint(3, 8)).capitalize()
            details["labels"] = self.rng.sample(WORDS, 2)
        return details
