"""``/ui`` serves the viewer's fixed set of files with a strict CSP, and the files themselves keep
to what that policy and the escaping rule demand: no inline code or style, nothing from another
origin, no HTML parsing of data. (The browser tests, ``tests/integration/test_viewer.py``, check
the behaviour.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from authtrail.settings import load_settings
from query_service.app import create_app
from query_service.ui import CONTENT_SECURITY_POLICY, UI_DIR, load_assets
from tests.support.unreached_store import UNREACHED_STORE_URI


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = load_settings(mongo_uri=UNREACHED_STORE_URI, api_access_log_to_store=False)
    with TestClient(create_app(settings)) as test_client:  # the store is never reached: /ui needs none
        yield test_client


def test_the_page_and_its_assets_carry_the_security_headers(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for response in [
        page,
        *(client.get(f"/ui/assets/{name}") for name in load_assets() if name != "index.html"),
    ]:
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-cache"
    assert client.get("/ui/assets/viewer.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/ui/assets/viewer.css").headers["content-type"] == "text/css; charset=utf-8"


def test_the_policy_allows_no_inline_code_no_eval_and_no_framing() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_only_the_viewers_own_files_are_served(client: TestClient) -> None:
    for name in ("missing.js", "index.html", "viewer.js.map", "ui.py", "__init__.py"):
        response = client.get(f"/ui/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for path in (
        "/ui/assets/..%2Fui.py",
        "/ui/assets/%2e%2e%2f%2e%2e%2fapp.py",
        "/ui/assets/../ui.py",
        "/ui/ui.py",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"import" not in response.content
    assert client.post("/ui").status_code == 405


def test_an_unchanged_asset_is_revalidated_with_its_etag(client: TestClient) -> None:
    first = client.get("/ui/assets/viewer.js")
    again = client.get("/ui/assets/viewer.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_the_json_api_keeps_its_own_headers(client: TestClient) -> None:
    health = client.get("/health")
    assert "content-security-policy" not in health.headers


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere() -> None:
    html = (UI_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    assets = load_assets()
    for reference in re.findall(r'(?:src|href)="([^"]+)"', html):
        if reference.startswith("/ui/assets/"):
            assert reference.removeprefix("/ui/assets/") in assets, reference
        else:
            assert reference in ("/docs", "#results"), reference
    for name, asset in assets.items():
        text = asset.body.decode()
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, never fetched
        assert re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text) is None, name


def test_the_scripts_never_parse_data_as_html_or_code() -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*[\"'`]"
    )
    scripts = {name: asset.body.decode() for name, asset in load_assets().items() if name.endswith(".js")}
    assert set(scripts) >= {"viewer.js", "api.js", "dom.js", "view-state.js"}
    for name, text in scripts.items():
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
        assert forbidden.search(code) is None, name
        assert "localStorage" not in code, name  # the key: this tab's session storage only
        assert "document.cookie" not in code, name
    imports = re.findall(r'from "\./([^"]+)"', "".join(scripts.values()))
    assert set(imports) <= set(scripts)
