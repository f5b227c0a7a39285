"""Errors → JSON responses, at one boundary.

Handlers raise domain errors; this table turns each into a status and a body of one shape:
``{"error": <code>, "message": <sentence>, "details": [...]}``. Nothing else in the API builds
an error response, and no stack trace ever reaches a client.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from authtrail.logs import get_logger
from query_service.auth import ForbiddenError, UnauthorizedError
from query_service.checkpoints import IntegrityKeysUnavailableError, NotSealedError, SealStateError
from query_service.events import EventNotFoundError
from query_service.export import ExportTooLargeError
from query_service.metrics import AUTH_FAILURES, RATE_LIMITED
from query_service.params import InvalidParametersError
from query_service.rate_limit import RateLimitedError
from query_service.responses import JSONBody
from query_service.store import StoreUnavailableError

log = get_logger(__name__)
RETRY_AFTER_S = "5"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, **({"details": details} if details is not None else {})}


async def invalid_parameters(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidParametersError)
    details = [{"parameter": p.parameter, "problem": p.problem} for p in exc.problems]
    names = ", ".join(dict.fromkeys(p.parameter for p in exc.problems))
    return JSONBody(
        error_body("invalid_parameters", f"invalid parameters: {names}", details), status_code=400
    )


async def store_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreUnavailableError)
    log.warning("store unavailable", path=request.url.path, detail=exc.detail)
    return JSONBody(
        error_body("store_unavailable", exc.detail), status_code=503, headers={"Retry-After": RETRY_AFTER_S}
    )


async def unauthorized(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnauthorizedError)
    AUTH_FAILURES.labels("invalid_key" if exc.invalid_token else "missing_key").inc()
    challenge = 'Bearer realm="authtrail"' + (', error="invalid_token"' if exc.invalid_token else "")
    return JSONBody(
        error_body("unauthorized", str(exc)), status_code=401, headers={"WWW-Authenticate": challenge}
    )


async def forbidden(request: Request, exc: Exception) -> Response:
    AUTH_FAILURES.labels("forbidden").inc()
    return JSONBody(error_body("forbidden", str(exc)), status_code=403)


async def rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitedError)
    RATE_LIMITED.labels(exc.limit).inc()
    return JSONBody(
        error_body("rate_limited", str(exc)), status_code=429, headers={"Retry-After": str(exc.retry_after_s)}
    )


async def event_not_found(request: Request, exc: Exception) -> Response:
    # The same answer whether the event is absent or another tenant's.
    return JSONBody(error_body("not_found", "no such event"), status_code=404)


async def not_sealed(request: Request, exc: Exception) -> Response:
    # The sealer checkpoints each interval: worth asking again after the next one.
    return JSONBody(error_body("not_sealed", str(exc)), status_code=404, headers={"Retry-After": "60"})


async def seal_state_incomplete(request: Request, exc: Exception) -> Response:
    log.error("seal state incomplete", path=request.url.path, detail=str(exc))
    return JSONBody(error_body("seal_state_incomplete", str(exc)), status_code=500)


async def integrity_unavailable(request: Request, exc: Exception) -> Response:
    log.error("integrity keys unavailable", detail=str(exc))
    return JSONBody(
        error_body("integrity_unavailable", "the checkpoint public keys are not available"),
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def export_too_large(request: Request, exc: Exception) -> Response:
    return JSONBody(error_body("export_too_large", str(exc)), status_code=400)


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 414: "uri_too_long"}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = {
        404: f"no such endpoint: {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return JSONBody(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", path=request.url.path, error=repr(exc))
    return JSONBody(
        error_body("internal_error", "an internal error occurred; it has been logged"), status_code=500
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    InvalidParametersError: invalid_parameters,
    UnauthorizedError: unauthorized,
    ForbiddenError: forbidden,
    RateLimitedError: rate_limited,
    EventNotFoundError: event_not_found,
    ExportTooLargeError: export_too_large,
    NotSealedError: not_sealed,
    SealStateError: seal_state_incomplete,
    IntegrityKeysUnavailableError: integrity_unavailable,
    StoreUnavailableError: store_unavailable,
    HTTPException: http_error,
    Exception: unexpected,
}
