"""JSON responses rendered with orjson (fast, and datetime-aware)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from query_service.serialize import dumps


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
