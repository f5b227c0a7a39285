"""``authtrail bench readme`` times the Quick start's curl examples as the README writes them:
if the README's examples change shape, the bench must still find them all."""

from __future__ import annotations

from urllib.parse import urlsplit

from authtrail.settings import PROJECT_ROOT
from scripts.bench.readme import readme_requests


def test_every_curl_example_of_the_readme_is_timed() -> None:
    written = [
        line for line in (PROJECT_ROOT / "README.md").read_text().splitlines() if line.startswith("curl ")
    ]
    found = readme_requests()
    assert len(found) == len(written) >= 2
    assert all(urlsplit(url).path == "/audit_events" for url in found)
