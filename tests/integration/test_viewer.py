"""The viewer (``/ui``) in a real browser — Debian's headless Chromium driven by Playwright —
against the real stack: events produced through the pipeline, the API as a subprocess.

Sign in, filter by every field, page by numbers and by cursor, open an event, restore a view from
its link, export, a company key confined to its company, attacker-controlled event data shown as
text, the CSP enforced, every error state, a narrow window, contrast. Screenshots of the main
states go to ``bench-results/viewer/`` (``VIEWER_SCREENSHOTS_DIR`` to change it; the README's
are copies in ``docs/viewer/``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, sync_playwright
from pydantic import SecretStr

from authtrail.api_keys import parse_key
from authtrail.sample_events import EventFactory, company_of
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from query_service.ui import CONTENT_SECURITY_POLICY
from scripts.browser import CHROMIUM_ARGS, ensure_chromium
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import isolated_pipeline

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("VIEWER_SCREENSHOTS_DIR") or ROOT / "bench-results" / "viewer")
API_PORT = 14700
LIMITED_PORT = 14701  # an API with a tiny rate limit: 429
STORELESS_PORT = 14702  # an API whose store is unreachable: 503
TIME_ZONE = "Asia/Kolkata"  # the browser's: UTC+05:30, so local and UTC visibly differ
T0 = 1_710_064_800  # 2024-03-10T10:00:00Z
XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_RESOURCE = "BUG-XSS-1"
HISTORY_RESOURCE = "BUG-777"
# What a browser reports about a request the test provoked on purpose; anything else is a failure.
EXPECTED_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class Viewer:
    base: str
    events: list[dict[str, Any]]  # as the API returns them, newest first
    operator_key: str
    company_a: int
    company_b: int
    company_keys: dict[int, str]
    users_a: list[int]


def two_companies() -> tuple[tuple[int, list[int]], tuple[int, list[int]]]:
    by_company: dict[int, list[int]] = {}
    for user in range(1, 20_000):
        by_company.setdefault(company_of(user), []).append(user)
    a, b = sorted(company for company, users in by_company.items() if len(users) >= 3)[:2]
    return (a, by_company[a][:3]), (b, by_company[b][:2])


def produced_events() -> list[dict[str, Any]]:
    """66 events of two companies, each at its own second (10 minutes apart, shuffled across
    users), four on one bug's history, one whose event_data is an XSS attempt."""
    (company_a, users_a), (company_b, users_b) = two_companies()
    rng = random.Random(5)
    counts: list[tuple[int, str | None, int]] = [
        (users_a[0], None, 22),
        (users_a[1], None, 14),
        (users_a[2], "login", 6),
        (users_b[0], None, 15),
        (users_b[1], None, 4),
    ]
    plan = [(user, kind) for user, kind, count in counts for _ in range(count)]
    rng.shuffle(plan)
    clock = iter(range(T0, T0 + 10_000 * 600, 600))
    factory = EventFactory(seed=31, clock=lambda: next(clock))
    events = [factory.event(user_id=user, event_type=kind) for user, kind in plan]
    for event_type in ("create", "update", "moved", "assigned"):
        event = factory.event(user_id=users_a[1], event_type=event_type)
        events.append({**event, "resource_type": "bug", "resource_id": HISTORY_RESOURCE})
    hostile = factory.event(user_id=users_b[0], event_type="create")
    events.append(
        {
            **hostile,
            "resource_type": "bug",
            "resource_id": XSS_RESOURCE,
            "event_data": json.dumps(
                {
                    "title": XSS_TITLE,
                    "body": "<script>alert(2)</script>",
                    "labels": ["<b>x</b>", "\u202eevil"],
                }
            ),
        }
    )
    assert {company_of(e["user_id"]) for e in events} == {company_a, company_b}
    return events


@pytest.fixture(scope="module")
def viewer(
    stack: LocalStack, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Viewer]:
    workdir = tmp_path_factory.mktemp("viewer")
    with isolated_pipeline(settings, uuid.uuid4().hex[:10], workdir, api_port=API_PORT) as pipe:
        pipe.start("transformer")
        pipe.start("api")
        pipe.start(
            "api",
            name="api-limited",
            api_port=LIMITED_PORT,
            api_rate_limit_per_s=0.02,
            api_rate_limit_burst=3,
        )
        pipe.start(
            "api",
            name="api-storeless",
            api_port=STORELESS_PORT,
            mongo_uri=SecretStr("mongodb://127.0.0.1:9/"),
            mongo_server_selection_timeout_ms=300,
        )
        produced = produced_events()
        emitter = pipe.emitter()
        for event in produced:
            emitter.send(event)
        assert emitter.flush(60) == 0
        emitter.close()
        pipe.wait_stored(len(produced))
        for port in (API_PORT, LIMITED_PORT, STORELESS_PORT):
            health = f"http://127.0.0.1:{port}/health"
            wait_for(functools.partial(http_ok, health), 30, f"the API on port {port}")
        base = f"http://127.0.0.1:{API_PORT}"
        operator_key = pipe.key()
        listed = httpx.get(
            f"{base}/audit_events",
            params={"per_page": 1000},
            headers={"Authorization": f"Bearer {operator_key}"},
            timeout=30,
        ).json()["data"]
        assert len(listed) == len(produced)
        (company_a, users_a), (company_b, _) = two_companies()
        yield Viewer(
            base=base,
            events=listed,
            operator_key=operator_key,
            company_a=company_a,
            company_b=company_b,
            company_keys={company_a: pipe.key(company_a), company_b: pipe.key(company_b)},
            users_a=users_a,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    playwright: Playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


class Console:
    """What the page said: console messages of type error, uncaught exceptions, dialogs."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("dialog", self._dialog)

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def unexpected(self, *allowed_statuses: int) -> list[str]:
        """Errors other than the browser's report of a status the test provoked on purpose."""
        return [
            text
            for text in self.errors
            if not ((match := EXPECTED_STATUS.match(text)) and int(match.group(1)) in allowed_statuses)
        ]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., tuple[Page, Console]]]:
    contexts = []

    def new_page(width: int = 1280, height: int = 800) -> tuple[Page, Console]:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            timezone_id=TIME_ZONE,
            locale="en-GB",
            accept_downloads=True,
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        return page, Console(page)

    yield new_page
    for context in contexts:
        context.close()


# --- helpers ---------------------------------------------------------------------------------


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def settle(page: Page) -> None:
    page.wait_for_selector("#results[aria-busy=false]", state="attached")


@contextmanager
def listing(page: Page) -> Iterator[None]:
    """Run an action that loads a listing; return once the page shows its outcome."""
    with page.expect_response(lambda r: urlsplit(r.url).path == "/audit_events"):
        yield
    settle(page)


def sign_in(page: Page, base: str, key: str, path: str = "/ui") -> Response | None:
    response = page.goto(f"{base}{path}")
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#api-key", key)
    with listing(page):
        page.click("#sign-in-form button[type=submit]")
    return response


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#rows tr", "rows => rows.map(row => row.dataset.id)")
    return ids


def expected(viewer: Viewer, **filters: Any) -> list[str]:
    """The ids the API's order gives for these filters (newest first), from the events as listed."""

    def keep(event: dict[str, Any]) -> bool:
        for name, value in filters.items():
            if name == "timestamp_from" and event["timestamp"] < value:
                return False
            if name == "timestamp_to" and event["timestamp"] > value:
                return False
            if name in ("event_type", "event_resource_type") and event[name] not in value.split(","):
                return False
            if name in ("user_id", "company_id", "resource_id") and event[name] != value:
                return False
        return True

    return [event["id"] for event in viewer.events if keep(event)]


def apply(page: Page, **fields: str) -> None:
    """Clear the filters, fill these (by API name), apply."""
    with listing(page):
        page.click("#clear-filters")
    for name, value in fields.items():
        page.fill(f"[data-param={name}]", value)
    with listing(page):
        page.click("#filters button[type=submit]")


def view_params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def local_input(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(TIME_ZONE)).strftime("%Y-%m-%dT%H:%M")


# --- scenarios ---------------------------------------------------------------------------------


def test_sign_in_shows_the_newest_events_and_keeps_the_key_out_of_urls_and_cookies(
    viewer: Viewer, open_page
) -> None:
    page, console = open_page()
    response = page.goto(f"{viewer.base}/ui")
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "unsafe-eval" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.is_hidden("#viewer")
    screenshot(page, "sign-in")

    page.fill("#api-key", viewer.operator_key)
    with listing(page):
        page.click("#sign-in-form button[type=submit]")
    assert shown_ids(page) == expected(viewer)[:25]
    assert page.inner_text("#status").startswith(f"Events 1–25 of {len(viewer.events)}, newest first")
    first_time = page.inner_text("#rows tr:first-child .row-open")
    newest = viewer.events[0]["timestamp"]
    local = datetime.fromtimestamp(newest, ZoneInfo(TIME_ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    assert local in first_time
    assert datetime.fromtimestamp(newest, ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC") in first_time
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")  # ICU's name for it
    assert zone in ("Asia/Kolkata", "Asia/Calcutta")
    assert page.inner_text("thead th:first-child") == f"Time ({zone})"
    secret = viewer.operator_key
    assert secret not in page.url
    assert page.context.cookies() == []
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('authtrail.viewer.key')") == secret
    assert page.input_value("#api-key") == ""
    parsed = parse_key(secret)
    assert parsed is not None
    key_id, key_secret = parsed  # the secret may itself hold "_": split by the key's own grammar
    assert key_id in page.inner_text("#key-id")
    assert key_secret not in page.content()
    screenshot(page, "results")
    assert console.unexpected() == []

    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('authtrail.viewer.key')") is None
    assert shown_ids(page) == []


def test_each_filter_narrows_the_results_as_the_api_does(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.operator_key)
    with listing(page):
        page.select_option("#f-per-page", "100")  # applies at once
    assert shown_ids(page) == expected(viewer)
    assert view_params(page)["per_page"] == ["100"]
    user = viewer.users_a[1]
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({"user_id": str(user)}, {"user_id": user}),
        ({"company_id": str(viewer.company_b)}, {"company_id": viewer.company_b}),
        ({"event_type": "login, moved"}, {"event_type": "login,moved"}),
        ({"event_resource_type": "comment"}, {"event_resource_type": "comment"}),
        ({"resource_id": HISTORY_RESOURCE}, {"resource_id": HISTORY_RESOURCE}),
        (
            {
                "company_id": str(viewer.company_a),
                "event_type": "update,create",
                "event_resource_type": "bug",
            },
            {"company_id": viewer.company_a, "event_type": "update,create", "event_resource_type": "bug"},
        ),
    ]
    for fields, filters in cases:
        apply(page, **fields)
        assert shown_ids(page) == expected(viewer, **filters), fields
        assert expected(viewer, **filters), fields  # a filter that matches nothing proves little
        params = view_params(page)
        for name, value in filters.items():
            assert params[name] == [str(value)], (name, params)

    # the time range: picked in the viewer's local time (UTC+05:30), shown in UTC, sent as epoch s
    start, end = T0 + 10 * 600, T0 + 30 * 600
    apply(page, timestamp_from=local_input(start), timestamp_to=local_input(end))
    assert shown_ids(page) == expected(viewer, timestamp_from=start, timestamp_to=end)
    assert len(shown_ids(page)) == 21
    params = view_params(page)
    assert (params["timestamp_from"], params["timestamp_to"]) == ([str(start)], [str(end)])
    assert page.inner_text("#f-from-utc") == "= 2024-03-10 11:40:00 UTC"
    assert page.inner_text("#f-to-utc") == "= 2024-03-10 15:00:00 UTC"
    assert page.input_value("#f-from") in ("2024-03-10T17:10", "2024-03-10T17:10:00")

    with listing(page):
        page.fill("[data-param=user_id]", "99999999")
        page.press("[data-param=user_id]", "Enter")  # the keyboard applies the filters too
    assert shown_ids(page) == []
    assert page.is_visible("#empty")
    assert page.inner_text("#empty") == "No events match these filters."
    assert page.inner_text("#status") == "No events match these filters."
    screenshot(page, "empty")
    assert console.unexpected() == []


def test_paging_by_page_numbers_and_by_cursor(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.operator_key, "/ui?per_page=10")
    ids = expected(viewer)
    assert shown_ids(page) == ids[:10]
    with listing(page):
        page.click("#pager >> text=Next ›")
    assert shown_ids(page) == ids[10:20]
    assert view_params(page)["page"] == ["2"]
    with listing(page):
        page.click("#pager [aria-label='Page 4']")
    assert shown_ids(page) == ids[30:40]
    assert page.get_attribute("#pager [aria-label='Page 4']", "aria-current") == "page"
    with listing(page):
        page.click("#pager >> text=Last »")
    assert shown_ids(page) == ids[60:70]
    assert page.is_disabled("#pager >> text=Next ›")
    with listing(page):
        page.go_back()  # the browser's history is the viewer's
    assert shown_ids(page) == ids[30:40]

    with listing(page):
        page.select_option("#f-mode", "cursor")
    assert shown_ids(page) == ids[:10]
    assert view_params(page)["order"] == ["newest"]
    walked = []
    for _ in range(3):
        with listing(page):
            page.click("#pager >> text=Next ›")
        walked.append(shown_ids(page))
    assert walked == [ids[10:20], ids[20:30], ids[30:40]]
    assert "cursor" in view_params(page)
    with listing(page):
        page.click("#pager >> text=‹ Previous")
    assert shown_ids(page) == ids[20:30]
    with listing(page):
        page.go_back()
    assert shown_ids(page) == ids[30:40]
    with listing(page):
        page.click("#pager >> text=« Newest")
    assert shown_ids(page) == ids[:10]
    while not page.is_disabled("#pager >> text=Next ›"):
        with listing(page):
            page.click("#pager >> text=Next ›")
    assert shown_ids(page) == ids[60:]
    screenshot(page, "cursor-walk")
    assert console.unexpected() == []


def test_an_event_opens_whole_by_mouse_or_keyboard_and_a_link_restores_the_view(
    viewer: Viewer, open_page
) -> None:
    page, console = open_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=viewer.base)
    sign_in(page, viewer.base, viewer.operator_key, "/ui?event_type=update,create&per_page=10")
    ids = expected(viewer, event_type="update,create")
    assert shown_ids(page) == ids[:10]

    page.click("#rows tr:nth-child(3) td[data-label=Summary]")  # anywhere on the row
    page.wait_for_selector("#detail:not([hidden])")
    by_id = httpx.get(
        f"{viewer.base}/audit_events/{ids[2]}", headers={"Authorization": f"Bearer {viewer.operator_key}"}
    ).json()
    assert json.loads(page.inner_text("#detail-json")) == by_id
    assert view_params(page)["event"] == [ids[2]]
    assert page.get_attribute("#rows tr:nth-child(3)", "class") == "selected"
    screenshot(page, "detail")

    # keyboard: arrows between rows, Enter opens, Escape closes and gives the focus back
    page.keyboard.press("Escape")
    assert page.is_hidden("#detail")
    assert "event" not in view_params(page)
    page.focus("#rows tr:first-child .row-open")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail:not([hidden])")
    assert json.loads(page.inner_text("#detail-json"))["id"] == ids[1]
    assert page.evaluate("document.activeElement.id") == "detail"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.closest('tr').dataset.id") == ids[1]
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail:not([hidden])")

    with listing(page):
        page.click("#pager >> text=Next ›")
    assert shown_ids(page) == ids[10:20]
    page.click("#rows tr:nth-child(5) .row-open")
    page.wait_for_selector("#detail:not([hidden])")
    page.click("#copy-link")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Link copied')")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.url
    assert viewer.operator_key not in link
    assert parse_qs(urlsplit(link).query) == {
        "event_type": ["update,create"],
        "per_page": ["10"],
        "page": ["2"],
        "event": [ids[14]],
    }

    # another tab: the key is not shared (session storage is per tab), the view comes back
    other, other_console = open_page()
    other.goto(link)
    other.wait_for_selector("#sign-in:not([hidden])")
    other.fill("#api-key", viewer.operator_key)
    with listing(other):
        other.click("#sign-in-form button[type=submit]")
    other.wait_for_selector("#detail:not([hidden])")
    assert other.input_value("[data-param=event_type]") == "update,create"
    assert other.input_value("#f-per-page") == "10"
    assert shown_ids(other) == ids[10:20]
    assert json.loads(other.inner_text("#detail-json"))["id"] == ids[14]
    assert other.get_attribute("#pager [aria-label='Page 2']", "aria-current") == "page"

    # a linked event that is not on the page is fetched by id (GET /audit_events/{id})
    elsewhere = expected(viewer, event_type="login")[0]
    by_id_path = f"/audit_events/{elsewhere}"
    with other.expect_response(lambda r: urlsplit(r.url).path == by_id_path), listing(other):
        other.goto(f"{viewer.base}/ui?event_type=update&event={elsewhere}")
    other.wait_for_function("() => document.getElementById('detail-json').textContent !== ''")
    assert json.loads(other.inner_text("#detail-json"))["event_type"] == "login"

    # the detail's shortcuts filter by its user / resource
    with listing(other):
        other.click("#detail-user")
    user = next(e["user_id"] for e in viewer.events if e["id"] == elsewhere)
    assert shown_ids(other) == expected(viewer, event_type="update", user_id=user)[:25]
    assert other.input_value("[data-param=user_id]") == str(user)
    assert console.unexpected() == []
    assert other_console.unexpected() == []


def test_a_view_survives_its_own_url(viewer: Viewer, open_page) -> None:
    """Any filter text, cursor and event id come back from the link exactly (the URL encoding of
    view-state.js), and local time converts to epoch seconds and back."""
    page, console = open_page()
    page.goto(f"{viewer.base}/ui")
    state = {
        "filters": {
            "timestamp_from": str(T0),
            "event_type": "create,update",
            "resource_id": "A&B #1 %x é/?=+",
        },
        "perPage": "50",
        "mode": "cursor",
        "page": "1",
        "cursor": "WzEs.abc-_",
        "event": "e/1?x#y",
    }
    result = page.evaluate(
        """async (state) => {
          const view = await import("/ui/assets/view-state.js");
          const search = view.searchFromState(state);
          const local = view.epochToLocalInput(state.filters.timestamp_from);
          return {search, back: view.stateFromSearch(search), local, epoch: view.localInputToEpoch(local),
                  utc: view.formatUtc(state.filters.timestamp_from)};
        }""",
        state,
    )
    assert result["back"] == state
    assert "at_" not in result["search"]
    assert result["local"] == "2024-03-10T15:30:00"  # UTC+05:30
    assert result["epoch"] == str(T0)
    assert result["utc"] == "2024-03-10 10:00:00 UTC"
    assert console.unexpected() == []


def test_a_company_key_sees_its_company_only(viewer: Viewer, open_page) -> None:
    a, b = viewer.company_a, viewer.company_b
    page, console = open_page()
    sign_in(page, viewer.base, viewer.company_keys[a], "/ui?per_page=100")
    mine = expected(viewer, company_id=a)
    assert shown_ids(page) == mine
    assert page.inner_text("#status").startswith(f"Events 1–{len(mine)} of {len(mine)}")
    companies = page.eval_on_selector_all(
        "#rows td[data-label=Company]", "cells => cells.map(c => c.innerText)"
    )
    assert set(companies) == {str(a)}

    # asking for the other company: the API's 403, said plainly; nothing listed
    with listing(page):
        page.fill("[data-param=company_id]", str(b))
        page.click("#filters button[type=submit]")
    assert page.get_attribute("#banner", "data-status") == "403"
    assert page.inner_text("#banner-title") == "Not allowed for this key"
    assert f"this key may read company {a} only" in page.inner_text("#banner")
    assert page.inner_text("#f-company-problem") == f"this key may read company {a} only"
    assert shown_ids(page) == []
    screenshot(page, "forbidden")

    # the other company's event by link: "no such event", exactly as for an absent one
    theirs = expected(viewer, company_id=b)[0]
    with listing(page):
        page.goto(f"{viewer.base}/ui?event={theirs}")
    page.wait_for_selector("#detail-problem:not([hidden])")
    assert (
        page.inner_text("#detail-problem")
        == f"No event {theirs} for this key (absent, or another company's)."
    )
    assert page.inner_text("#detail-json") == ""

    # and the export holds this company's events only
    page.click("#detail-close")
    page.select_option("#export-format", "csv")
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["id"] for row in rows] == mine
    assert {row["company_id"] for row in rows} == {str(a)}
    assert download.value.suggested_filename.startswith(f"audit_events-company-{a}-")
    assert console.unexpected(403, 404) == []


def test_the_export_button_downloads_everything_the_filters_match(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.operator_key, "/ui?per_page=10&event_type=login,create")
    ids = expected(viewer, event_type="login,create")
    assert len(ids) > 10  # more than one page: the export is every page, not the one on screen
    page.select_option("#export-format", "ndjson")
    with page.expect_download() as download:
        page.click("#export")
    lines = Path(download.value.path()).read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    assert download.value.suggested_filename.endswith(".ndjson")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Exported')")
    assert page.inner_text("#status") == f"Exported {len(ids)} events to {download.value.suggested_filename}."

    page.select_option("#export-format", "csv")
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["id"] for row in rows] == ids
    assert console.unexpected() == []


def test_attacker_controlled_event_data_renders_as_text(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.company_keys[viewer.company_b], f"/ui?resource_id={XSS_RESOURCE}")
    assert len(shown_ids(page)) == 1
    summary = page.inner_text("#rows td[data-label=Summary]")
    assert summary.startswith(f"title: {XSS_TITLE} · body: <script>alert(2)</script> · labels: <b>x</b>, ")
    assert "\\u202eevil" in summary  # a direction override is shown, not obeyed
    page.click("#rows .row-open")
    page.wait_for_selector("#detail:not([hidden])")
    shown = json.loads(page.inner_text("#detail-json"))
    assert shown["event_data"]["title"] == XSS_TITLE
    assert shown["event_data"]["labels"] == ["<b>x</b>", "\u202eevil"]
    assert (
        page.locator("#rows img, #rows script, #rows b, #detail img, #detail script, #detail b").count() == 0
    )
    assert page.inner_text("#detail-title") == f"Event {shown['id']}"
    page.wait_for_timeout(500)  # time for an injected handler to fire, were there one
    assert console.dialogs == []
    assert page.evaluate("document.querySelectorAll('img').length") == 1  # the header's icon only
    screenshot(page, "escaped")
    assert console.unexpected() == []


def test_the_content_security_policy_is_enforced(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.operator_key)
    assert console.unexpected() == []  # the viewer itself needs nothing the policy forbids
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.append(script);
          const style = document.createElement("style");
          style.textContent = "body { display: none }";
          document.head.append(style);
          // eval from the page's own task (Playwright's evaluate itself is exempt from the CSP)
          setTimeout(() => {
            try { window.evalRan = eval("true"); } catch { window.evalRan = false; }
          }, 0);
        }"""
    )
    page.wait_for_function("() => window.evalRan !== undefined")
    blocked = page.evaluate(
        "({inline: window.inlineRan === true, eval: window.evalRan,"
        " hidden: getComputedStyle(document.body).display === 'none'})"
    )
    assert blocked == {"inline": False, "eval": False, "hidden": False}
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in text for text in console.errors)
    for asset in ("viewer.js", "api.js", "dom.js", "view-state.js", "viewer.css", "icon.svg"):
        response = httpx.get(f"{viewer.base}/ui/assets/{asset}")
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # the JSON API's own headers are unchanged
    assert "content-security-policy" not in httpx.get(f"{viewer.base}/health").headers


def test_error_states_say_what_is_wrong(viewer: Viewer, open_page) -> None:
    page, console = open_page()
    sign_in(page, viewer.base, viewer.operator_key)

    # 400: the API's problems, each at its field
    with listing(page):
        page.goto(f"{viewer.base}/ui?user_id=12x&timestamp_to={T0}&event_type=a%20b")
    assert page.get_attribute("#banner", "data-status") == "400"
    assert page.inner_text("#banner-title") == "The API refused these parameters"
    assert page.inner_text("#f-user-problem") == "must be a whole number (digits only)"
    assert page.inner_text("#f-to-problem") == "requires timestamp_from"
    assert page.inner_text("#f-type-problem").startswith("each comma-separated value must be")
    assert page.get_attribute("#f-user", "aria-invalid") == "true"
    assert page.is_hidden("#f-company-problem")
    assert shown_ids(page) == []
    screenshot(page, "invalid-parameters")

    # loading: shown while the answer is on its way (the request held in the browser a moment)
    held: list[Any] = []
    is_listing = lambda url: urlsplit(url).path == "/audit_events"  # noqa: E731
    page.route(is_listing, lambda route: held.append(route))
    page.fill("[data-param=user_id]", "")
    page.fill("[data-param=timestamp_to]", "")
    page.fill("[data-param=event_type]", "")
    page.click("#filters button[type=submit]")
    while not held:
        page.wait_for_timeout(50)
    assert page.get_attribute("#results", "aria-busy") == "true"
    assert page.inner_text("#status") == "Loading…"
    screenshot(page, "loading")
    with listing(page):
        held[0].continue_()
    page.unroute(is_listing)
    assert shown_ids(page) == expected(viewer)[:25]
    assert page.is_hidden("#banner")

    # 401: a key the API does not know sends the viewer back to sign-in, key forgotten
    unknown = f"at_{'f' * 12}_{'A' * 43}"
    with listing(page):
        page.evaluate(f"sessionStorage.setItem('authtrail.viewer.key', '{unknown}')")
        page.click("#filters button[type=submit]")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert "The API refused the key" in page.inner_text("#sign-in-error")
    assert page.evaluate("sessionStorage.getItem('authtrail.viewer.key')") is None
    page.fill("#api-key", "not a key")
    page.click("#sign-in-form button[type=submit]")
    assert page.inner_text("#sign-in-error").startswith("That is not an API key")
    screenshot(page, "sign-in-refused")

    # 429: an API with a burst of 3 requests per key
    limited, limited_console = open_page()
    sign_in(limited, f"http://127.0.0.1:{LIMITED_PORT}", viewer.operator_key)
    for _ in range(4):
        with listing(limited):
            limited.click("#filters button[type=submit]")
        if limited.get_attribute("#banner", "data-status") == "429":
            break
    assert limited.get_attribute("#banner", "data-status") == "429"
    assert limited.inner_text("#banner-title") == "Too many requests"
    assert re.search(r"Retry in \d+ s\.", limited.inner_text("#banner-message"))
    assert limited.is_visible("#retry")

    # 503: an API whose store does not answer
    storeless, storeless_console = open_page()
    sign_in(storeless, f"http://127.0.0.1:{STORELESS_PORT}", viewer.operator_key)
    assert storeless.get_attribute("#banner", "data-status") == "503"
    assert storeless.inner_text("#banner-title") == "The store is unavailable"
    assert "Retry in 5 s." in storeless.inner_text("#banner-message")
    with listing(storeless):
        storeless.click("#retry")
    assert storeless.get_attribute("#banner", "data-status") == "503"
    screenshot(storeless, "store-unavailable")

    assert console.unexpected(400, 401) == []
    assert limited_console.unexpected(429) == []
    assert storeless_console.unexpected(503) == []


def test_a_narrow_window_shows_cards_and_the_event_over_them(viewer: Viewer, open_page) -> None:
    page, console = open_page(width=390, height=844)
    sign_in(page, viewer.base, viewer.operator_key, "/ui?per_page=10")
    assert shown_ids(page) == expected(viewer)[:10]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("getComputedStyle(document.querySelector('#rows td')).display") == "grid"
    assert page.evaluate("document.querySelector('#events thead').getBoundingClientRect().height <= 1")
    labels = page.evaluate(
        "[...document.querySelectorAll('#rows tr:first-child td')]"
        ".map(td => getComputedStyle(td, '::before').content)"
    )
    assert labels == ['"Time"', '"User"', '"Company"', '"Event"', '"Resource"', '"Summary"']
    assert page.get_attribute("#filter-panel", "open") is None  # folded: the events come first
    screenshot(page, "narrow")
    page.click("#filter-panel > summary")
    assert page.is_visible("[data-param=user_id]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("#filter-panel > summary")
    page.click("#rows tr:first-child .row-open")
    page.wait_for_selector("#detail:not([hidden])")
    box = page.evaluate(
        "JSON.parse(JSON.stringify(document.getElementById('detail').getBoundingClientRect()))"
    )
    assert (box["left"], box["top"]) == (0, 0)
    assert box["width"] >= 380  # over the whole window
    assert box["height"] >= 840
    screenshot(page, "narrow-detail")
    page.keyboard.press("Escape")
    assert page.is_hidden("#detail")
    assert console.unexpected() == []


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: tuple[float, float, float], background: tuple[float, float, float]) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


COLOURS = """(selector) => {
  const parse = (text) => text.match(/[\\d.]+/g).map(Number);
  const element = document.querySelector(selector);
  let node = element, background = null;
  while (node && background === null) {
    const rgba = parse(getComputedStyle(node).backgroundColor);
    if (rgba.length < 4 || rgba[3] > 0) background = rgba.slice(0, 3);
    node = node.parentElement;
  }
  return {fg: parse(getComputedStyle(element).color).slice(0, 3), bg: background || [255, 255, 255]};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_readable(viewer: Viewer, open_page, scheme: Literal["light", "dark"]) -> None:
    """WCAG AA: 4.5:1 for the text of every kind on the page, in both colour schemes."""
    page, _ = open_page()
    page.emulate_media(color_scheme=scheme)
    sign_in(page, viewer.base, viewer.operator_key)
    low: dict[str, float] = {}

    def check(*selectors: str) -> None:
        for selector in selectors:
            colours = page.evaluate(COLOURS, selector)
            ratio = contrast(tuple(colours["fg"]), tuple(colours["bg"]))
            if ratio < 4.5:
                low[f"{selector} {colours}"] = round(ratio, 2)

    check(
        "body",
        "#status",
        ".topbar .subtitle",
        "#key-id",
        "label[for=f-user]",
        ".hint",
        ".tz",
        "thead th",
        "#rows .row-open time",
        "#rows .row-open .utc",
        "#rows .resource-type",
        "#rows .resource-id",
        "#rows .c-summary",
        "#filters button[type=submit]",
        "#clear-filters",
        "#pager [aria-current=page]",
        "#pager button:not([disabled])",
    )
    page.click("#rows tr:first-child .row-open")
    page.wait_for_selector("#detail:not([hidden])")
    check("#detail-title", ".detail-fields dt", ".detail-fields dd", "#detail-json")
    with listing(page):
        page.goto(f"{viewer.base}/ui?user_id=x")
    check("#banner-title", "#banner-message", "#f-user-problem")
    assert low == {}
