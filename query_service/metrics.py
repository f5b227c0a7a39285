"""The query API's Prometheus metrics (served by ``authtrail serve`` on ``api_metrics_port``, or
at ``/metrics`` on the API's own port when that is 0; every metric: ``docs/operations.md``).

Labels stay bounded: a request is labelled by its route *template* (``/audit_events/{id:path}``,
never the id), a method from a fixed set, and its status; a request no route matched (404s,
requests refused before routing) is ``route="unmatched"``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from authtrail.metrics import LATENCY_BUCKETS_S, component_registry, counter, histogram

COMPONENT_PREFIX = "authtrail_api_"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = counter(
    "authtrail_api_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_DURATION = histogram(
    "authtrail_api_request_duration_seconds",
    "Time to answer a request (a streamed export: until its last byte), by route template and status.",
    ["route", "status"],
    buckets=LATENCY_BUCKETS_S,
)
STORE_QUERY_DURATION = histogram(
    "authtrail_api_store_query_duration_seconds",
    "Time a request's store work took once admitted, by operation (failed ones included).",
    ["operation"],
    buckets=LATENCY_BUCKETS_S,
)
STORE_QUEUE_WAIT = histogram(
    "authtrail_api_store_queue_wait_seconds",
    "Time a request waited for one of the api_max_concurrent_queries store slots.",
    buckets=LATENCY_BUCKETS_S,
)
STORE_ERRORS = counter(
    "authtrail_api_store_errors_total",
    "Store operations that failed (answered 503), by kind: timeout, unreachable, busy.",
    ["kind"],
)
RATE_LIMITED = counter(
    "authtrail_api_rate_limited_total",
    "Requests refused with 429, by limit: requests (the per-key token bucket) or exports (running at once).",
    ["limit"],
)
AUTH_FAILURES = counter(
    "authtrail_api_auth_failures_total",
    "Requests refused by key or scope, by reason: missing_key, invalid_key (401), forbidden (403).",
    ["reason"],
)


def observe_request(scope: Scope, status: int, duration_s: float) -> None:
    route = scope.get("route")
    template = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
    method = scope["method"] if scope["method"] in METHODS else "other"
    REQUESTS.labels(template, method, str(status)).inc()
    REQUEST_DURATION.labels(template, str(status)).observe(duration_s)


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` on the API's own port (when no separate metrics port is configured):
    not behind API keys, like the separate endpoint."""
    return Response(generate_latest(component_registry(COMPONENT_PREFIX)), media_type=CONTENT_TYPE_LATEST)
