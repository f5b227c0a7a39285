"""``GET /ui``: the investigators' viewer, served by the API itself (``docs/viewer.md``).

Static files only — one HTML page, ES modules and one stylesheet from ``query_service/ui/``,
no build step, nothing fetched from elsewhere. The page holds no audit data: it signs in with an
API key kept in the tab's ``sessionStorage`` and calls the same JSON API as every other client,
so a company key sees exactly what the API lets it see. Every response under ``/ui`` carries a
strict Content-Security-Policy (scripts and styles from this origin only: no inline code, no
``eval``), ``nosniff``, ``no-referrer`` and a frame ban; the JSON API's headers are unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

UI_DIR = Path(__file__).with_name("ui")
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "index.html"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets(directory: Path = UI_DIR) -> dict[str, Asset]:
    """Every file of the viewer by name, read once: a fixed set, so a request can only ever name
    one of them (no path from the request reaches the file system)."""
    assets = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            body = path.read_bytes()
            assets[path.name] = Asset(
                body, MEDIA_TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            )
    if PAGE not in assets:
        raise FileNotFoundError(f"the viewer's {PAGE} is missing from {directory}")
    return assets


def ui_routes(directory: Path = UI_DIR) -> list[BaseRoute]:
    """``/ui`` (the page) and ``/ui/assets/{name}`` (its scripts, stylesheet and icon)."""
    assets = load_assets(directory)

    def serve(request: Request, asset: Asset) -> Response:
        # Revalidated on every load (no-cache), so an upgrade is picked up at once; a 304 is cheap.
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": asset.etag}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def page(request: Request) -> Response:
        return serve(request, assets[PAGE])

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None or request.path_params["name"] == PAGE:
            return PlainTextResponse("no such file", status_code=404, headers=SECURITY_HEADERS)
        return serve(request, found)

    return [
        Route("/ui", page, methods=["GET"]),
        Route("/ui/assets/{name}", asset, methods=["GET"]),
    ]
