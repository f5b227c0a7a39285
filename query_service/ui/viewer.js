// The viewer: sign in, filter, page, open an event, export, link to the view.
// Plain ES modules, no framework (docs/viewer.md says why). Every value from the API is put in
// the page as text (dom.js); the key lives in sessionStorage and in Authorization headers only.

import { ApiError, NetworkError, fetchExport, getJson } from "./api.js";
import { clear, el, prettyJson, summarize, truncate } from "./dom.js";
import {
  FILTERS,
  MAX_RESULT_WINDOW,
  epochToLocalInput,
  exportParams,
  formatLocal,
  formatUtc,
  isoUtc,
  listParams,
  localInputToEpoch,
  searchFromState,
  stateFromSearch,
  timeZoneName,
} from "./view-state.js";

const KEY_STORAGE = "authtrail.viewer.key";
const SUMMARY_CHARS = 160;
const $ = (id) => document.getElementById(id);

const ui = {
  session: $("session"),
  keyId: $("key-id"),
  signOut: $("sign-out"),
  signIn: $("sign-in"),
  signInForm: $("sign-in-form"),
  keyInput: $("api-key"),
  signInError: $("sign-in-error"),
  viewer: $("viewer"),
  filterPanel: $("filter-panel"),
  filterCount: $("filter-count"),
  filters: $("filters"),
  from: $("f-from"),
  to: $("f-to"),
  fromUtc: $("f-from-utc"),
  toUtc: $("f-to-utc"),
  perPage: $("f-per-page"),
  mode: $("f-mode"),
  clearFilters: $("clear-filters"),
  status: $("status"),
  copyLink: $("copy-link"),
  linkFallback: $("link-fallback"),
  linkText: $("link-text"),
  exportFormat: $("export-format"),
  exportButton: $("export"),
  exportCancel: $("export-cancel"),
  banner: $("banner"),
  bannerTitle: $("banner-title"),
  bannerMessage: $("banner-message"),
  bannerDetails: $("banner-details"),
  retry: $("retry"),
  content: $("content"),
  results: $("results"),
  rows: $("rows"),
  empty: $("empty"),
  pager: $("pager"),
  detail: $("detail"),
  detailTitle: $("detail-title"),
  detailProblem: $("detail-problem"),
  detailFields: $("detail-fields"),
  detailJson: $("detail-json"),
  detailClose: $("detail-close"),
  detailUser: $("detail-user"),
  detailResource: $("detail-resource"),
  detailCopy: $("detail-copy"),
};

/** @type {import("./view-state.js").ViewState} */
let view = stateFromSearch(location.search);
let trail = []; // cursor mode: the cursors of the pages before this one (null: the first page)
let page = { events: [], meta: null }; // what the table shows
let shown = null; // the event in the detail panel
let loadCount = 0;
let loading = null; // AbortController of the listing in flight
let exporting = null; // AbortController of the export in flight
let returnFocusTo = null; // the row button that opened the detail panel

// --- the key: this tab's session storage only ----------------------------------------------

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function keyLabel(key) {
  const match = /^at_([0-9a-f]{1,32})_/.exec(key);
  return match ? `at_${match[1]}` : "(not an authtrail key)"; // the public id; never the secret
}

function showSignIn(problem) {
  loading?.abort();
  exporting?.abort();
  ui.viewer.hidden = true;
  ui.session.hidden = true;
  ui.signIn.hidden = false;
  ui.signInError.hidden = !problem;
  ui.signInError.textContent = problem || "";
  ui.keyInput.setAttribute("aria-invalid", problem ? "true" : "false");
  ui.keyInput.focus();
}

function showViewer(key) {
  ui.signIn.hidden = true;
  ui.viewer.hidden = false;
  ui.session.hidden = false;
  ui.keyId.textContent = keyLabel(key);
}

function forgetKey(problem) {
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage refused: nothing was kept
  }
  page = { events: [], meta: null };
  renderPage();
  hideDetail(); // the view (and its link) stays: signing in again shows it
  showSignIn(problem);
}

ui.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  ui.keyInput.value = "";
  if (!/^[\x21-\x7e]{1,512}$/.test(key)) {
    showSignIn("That is not an API key: a key looks like at_<id>_<secret>, on one line.");
    return;
  }
  try {
    sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    showSignIn("This browser refuses session storage here, so the viewer cannot keep the key.");
    return;
  }
  showViewer(key);
  load().then(() => {
    if (ui.signIn.hidden) ui.results.focus({ preventScroll: true });
  });
});

ui.signOut.addEventListener("click", () => forgetKey("Signed out. The key is forgotten."));

// --- the filter bar ------------------------------------------------------------------------

const fieldOf = Object.fromEntries(
  [...ui.filters.querySelectorAll("[data-param]")].map((input) => [input.dataset.param, input]),
);

function utcEcho(input, output) {
  const epoch = localInputToEpoch(input.value);
  output.textContent = epoch === null ? "" : `= ${formatUtc(epoch)}`;
}

function fillForm() {
  for (const name of FILTERS) {
    const input = fieldOf[name];
    const value = view.filters[name] ?? "";
    input.value = input.type === "datetime-local" ? epochToLocalInput(value) : value;
  }
  if (![...ui.perPage.options].some((option) => option.value === view.perPage)) {
    ui.perPage.append(el("option", {}, view.perPage)); // a linked page size the menu lacks
  }
  ui.perPage.value = view.perPage;
  ui.mode.value = view.mode;
  utcEcho(ui.from, ui.fromUtc);
  utcEcho(ui.to, ui.toUtc);
}

function filtersFromForm() {
  const filters = {};
  for (const name of FILTERS) {
    const input = fieldOf[name];
    let value;
    if (input.type === "datetime-local") value = localInputToEpoch(input.value) ?? "";
    else if (name === "event_type" || name === "event_resource_type") {
      value = input.value
        .split(",")
        .map((part) => part.trim())
        .filter(Boolean)
        .join(",");
    } else value = input.value.trim();
    if (value !== "") filters[name] = value;
  }
  return filters;
}

/** Show ``next``: a new entry in the browser's history (Back returns to this view), then load. */
function navigate(next) {
  view = next;
  history.pushState({ trail }, "", `${location.pathname}${searchFromState(view)}`);
  return load();
}

function applyFilters() {
  trail = [];
  return navigate({
    filters: filtersFromForm(),
    perPage: ui.perPage.value,
    mode: ui.mode.value === "cursor" ? "cursor" : "pages",
    page: "1",
    cursor: null,
    event: null,
  });
}

ui.filters.addEventListener("submit", (event) => {
  event.preventDefault();
  applyFilters();
});
ui.perPage.addEventListener("change", applyFilters);
ui.mode.addEventListener("change", applyFilters);
ui.from.addEventListener("input", () => utcEcho(ui.from, ui.fromUtc));
ui.to.addEventListener("input", () => utcEcho(ui.to, ui.toUtc));
ui.clearFilters.addEventListener("click", () => {
  for (const name of FILTERS) fieldOf[name].value = ""; // page size and paging stay as they are
  utcEcho(ui.from, ui.fromUtc);
  utcEcho(ui.to, ui.toUtc);
  applyFilters();
});

window.addEventListener("popstate", (event) => {
  view = stateFromSearch(location.search);
  trail = Array.isArray(event.state?.trail) ? event.state.trail : [];
  fillForm();
  load();
});

// --- loading and the states it ends in -----------------------------------------------------

function setStatus(text) {
  ui.status.textContent = text;
}

function setBusy(busy) {
  ui.results.setAttribute("aria-busy", String(busy));
  document.body.classList.toggle("is-loading", busy);
}

function clearProblems() {
  ui.banner.hidden = true;
  ui.banner.removeAttribute("data-status");
  for (const input of Object.values(fieldOf)) {
    input.removeAttribute("aria-invalid");
    const problem = $(`${input.id}-problem`);
    if (problem) {
      problem.hidden = true;
      problem.textContent = "";
    }
  }
}

function showBanner(status, title, message, details = [], retry = false) {
  ui.banner.hidden = false;
  ui.banner.dataset.status = String(status);
  ui.banner.className = `banner ${status === "info" ? "info" : "error"}`;
  ui.bannerTitle.textContent = title;
  ui.bannerMessage.textContent = message;
  clear(ui.bannerDetails).append(...details.map((line) => el("li", {}, line)));
  ui.retry.hidden = !retry;
}

/** The problem under the filter field of this API parameter, if the bar has one. */
function markField(parameter, problem) {
  const input = fieldOf[parameter];
  const slot = input && $(`${input.id}-problem`);
  if (!slot) return;
  input.setAttribute("aria-invalid", "true");
  slot.hidden = false;
  slot.textContent = problem;
}

function seconds(retryAfter, fallback) {
  return /^[0-9]{1,6}$/.test(retryAfter || "") ? Number(retryAfter) : fallback;
}

/** The banner (and field marks) for a failed request; a refused key signs out. */
function showFailure(error) {
  if (error instanceof NetworkError) {
    showBanner("network", "No answer from the API", error.message, [], true);
    setStatus("The API did not answer.");
    return;
  }
  if (!(error instanceof ApiError)) {
    showBanner("error", "Something went wrong in the viewer", String(error), [], true);
    setStatus("Error.");
    return;
  }
  switch (error.status) {
    case 400: {
      const lines = [];
      for (const { parameter, problem } of error.details) {
        lines.push(`${parameter}: ${problem}`);
        markField(parameter, problem);
      }
      showBanner(400, "The API refused these parameters", error.message, lines);
      setStatus("Invalid parameters: nothing was searched.");
      break;
    }
    case 401:
      forgetKey(`The API refused the key (${error.message}). Sign in again.`);
      break;
    case 403:
      if (view.filters.company_id !== undefined) markField("company_id", error.message); // the one scope
      showBanner(403, "Not allowed for this key", error.message);
      setStatus("Refused: this key may not read that.");
      break;
    case 404:
      showBanner(404, "Not found", error.message);
      setStatus("Not found.");
      break;
    case 414:
      showBanner(414, "Too many filters", `${error.message}: shorten the filters.`);
      setStatus("The request was too long.");
      break;
    case 429: {
      const wait = seconds(error.retryAfter, 1);
      showBanner(429, "Too many requests", `${error.message}. Retry in ${wait} s.`, [], true);
      setStatus("Rate limited.");
      break;
    }
    case 503: {
      const wait = seconds(error.retryAfter, 5);
      showBanner(503, "The store is unavailable", `${error.message}. Retry in ${wait} s.`, [], true);
      setStatus("The store is unavailable.");
      break;
    }
    default:
      showBanner(error.status, `Unexpected answer (HTTP ${error.status})`, error.message, [], true);
      setStatus(`HTTP ${error.status}.`);
  }
}

async function load() {
  const key = storedKey();
  if (!key) {
    showSignIn();
    return;
  }
  showViewer(key);
  loading?.abort();
  const controller = new AbortController();
  loading = controller;
  const run = ++loadCount;
  const active = Object.keys(view.filters).length;
  ui.filterCount.textContent = active ? `· ${active} active` : "· none";
  clearProblems();
  setBusy(true);
  setStatus("Loading…");
  try {
    const body = await getJson("/audit_events", listParams(view), key, controller.signal);
    if (run !== loadCount) return;
    page = { events: Array.isArray(body.data) ? body.data : [], meta: body.meta || {} };
    renderPage();
    if (view.event) await openDetail(view.event, { focus: false });
    else closeDetail(false);
  } catch (error) {
    if (error.name === "AbortError" || run !== loadCount) return;
    page = { events: [], meta: null };
    renderPage();
    hideDetail(); // kept in the view: Retry shows it again
    showFailure(error);
  } finally {
    if (run === loadCount) setBusy(false);
  }
}

ui.retry.addEventListener("click", () => load());

// --- the table and the pager ---------------------------------------------------------------

function cellText(value) {
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

function row(event, index) {
  const summary = summarize(event.event_data);
  const when = el(
    "button",
    { type: "button", class: "row-open", "data-index": index },
    el("time", { datetime: isoUtc(event.timestamp) }, formatLocal(event.timestamp)),
    el("span", { class: "utc" }, formatUtc(event.timestamp)),
    el("span", { class: "sr-only" }, ": open the whole event"),
  );
  return el(
    "tr",
    { "data-index": index, "data-id": event.id, class: shown && shown.id === event.id ? "selected" : null },
    cell("Time", "c-time", null, when),
    cell("User", null, null, cellText(event.user_id)),
    cell("Company", null, null, cellText(event.company_id)),
    cell("Event", null, null, cellText(event.event_type)),
    cell(
      "Resource",
      "c-resource",
      `${event.event_resource_type} ${event.resource_id}`,
      el("span", { class: "resource-type" }, cellText(event.event_resource_type)),
      " ",
      el("span", { class: "resource-id" }, cellText(event.resource_id)),
    ),
    cell("Summary", "c-summary", truncate(summary, 1000), truncate(summary, SUMMARY_CHARS)),
  );
}

/** A table cell; its content in one wrapper (a grid item of its own in the narrow layout). */
function cell(label, className, title, ...content) {
  const wrapper = el("span", { class: "cell" }, ...content);
  return el("td", { "data-label": label, class: className, title }, wrapper);
}

function pageButton(label, target, { current = false, disabled = false, name = null } = {}) {
  return el(
    "button",
    {
      type: "button",
      "data-target": target,
      "aria-current": current ? "page" : null,
      "aria-label": name,
      disabled: disabled || current,
    },
    label,
  );
}

function renderPager() {
  clear(ui.pager);
  const meta = page.meta;
  if (!meta) return;
  if (view.mode === "cursor") {
    ui.pager.append(
      pageButton("« Newest", "newest", { disabled: !view.cursor, name: "Newest events" }),
      pageButton("‹ Previous", "previous", { disabled: trail.length === 0, name: "Previous page" }),
      el("span", { class: "pager-info" }, `page ${trail.length + 1} of this walk`),
      pageButton("Next ›", "next", { disabled: !meta.next_cursor, name: "Next page" }),
    );
    return;
  }
  const current = Number(meta.current_page) || 1;
  const perPage = Number(meta.per_page) || 1;
  const pages = Number(meta.total_pages) || 1;
  const reachable = Math.max(1, Math.min(pages, Math.floor(MAX_RESULT_WINDOW / perPage)));
  const first = Math.max(1, Math.min(current - 2, reachable - 4));
  const last = Math.min(reachable, first + 4);
  ui.pager.append(
    pageButton("« First", "1", { disabled: current <= 1, name: "First page" }),
    pageButton("‹ Previous", String(current - 1), { disabled: current <= 1, name: "Previous page" }),
  );
  for (let number = first; number <= last; number += 1) {
    ui.pager.append(
      pageButton(String(number), String(number), { current: number === current, name: `Page ${number}` }),
    );
  }
  ui.pager.append(
    pageButton("Next ›", String(current + 1), { disabled: current >= reachable, name: "Next page" }),
    pageButton("Last »", String(reachable), { disabled: current >= reachable, name: "Last page" }),
  );
  if (reachable < (Number(meta.total_pages) || 0)) {
    ui.pager.append(
      el(
        "span",
        { class: "pager-info" },
        `pages past ${reachable}: narrow the filters, or page with next / previous`,
      ),
    );
  }
}

function renderStatus() {
  const meta = page.meta;
  if (!meta) return;
  if (view.mode === "cursor") {
    setStatus(
      page.events.length === 0
        ? "No events match these filters."
        : `${page.events.length} events, newest first (page ${trail.length + 1} of this walk).`,
    );
    return;
  }
  const total = Number(meta.total_count) || 0;
  if (total === 0) setStatus("No events match these filters.");
  else if (page.events.length === 0) {
    setStatus(`Page ${meta.current_page} is past the end: ${total.toLocaleString("en")} events match.`);
  } else {
    const start = (Number(meta.current_page) - 1) * Number(meta.per_page) + 1;
    setStatus(
      `Events ${start.toLocaleString("en")}–${(start + page.events.length - 1).toLocaleString("en")} ` +
        `of ${total.toLocaleString("en")}, newest first · page ${meta.current_page} of ${meta.total_pages}`,
    );
  }
}

function renderPage() {
  clear(ui.rows).append(...page.events.map((event, index) => row(event, index)));
  ui.empty.hidden = !(page.meta && page.events.length === 0);
  ui.empty.textContent =
    page.meta && view.mode === "pages" && Number(page.meta.total_count) > 0
      ? "This page is past the end of the results."
      : "No events match these filters.";
  renderPager();
  renderStatus();
}

ui.pager.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-target]");
  if (!button || button.disabled) return;
  const target = button.dataset.target;
  const next = { ...view, event: null };
  if (view.mode === "cursor") {
    if (target === "newest") {
      trail = [];
      next.cursor = null;
    } else if (target === "previous") {
      next.cursor = trail.length ? trail[trail.length - 1] : null;
      trail = trail.slice(0, -1);
    } else if (target === "next") {
      trail = [...trail, view.cursor];
      next.cursor = page.meta.next_cursor;
    }
  } else {
    next.page = target;
  }
  const name = button.getAttribute("aria-label");
  navigate(next).then(() => {
    // Keep the keyboard where it was (Next, Next, …), with the new page's top in view.
    ui.results.scrollIntoView({ block: "start" });
    const same = [...ui.pager.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === name);
    (same && !same.disabled ? same : ui.results).focus({ preventScroll: true });
  });
});

// --- the detail panel ----------------------------------------------------------------------

function field(name, ...value) {
  return [el("dt", {}, name), el("dd", {}, ...value)];
}

function showEvent(event) {
  shown = event;
  ui.detailProblem.hidden = true;
  ui.detailTitle.textContent = `Event ${event.id}`;
  clear(ui.detailFields).append(
    ...field(
      "Time",
      formatLocal(event.timestamp),
      el("br"),
      el("span", { class: "utc" }, formatUtc(event.timestamp)),
    ),
    ...field("Ingested", cellText(event.ingested_at)),
    ...field("User", cellText(event.user_id)),
    ...field("Company", cellText(event.company_id)),
    ...field("Event", cellText(event.event_type)),
    ...field("Resource", `${cellText(event.event_resource_type)} ${cellText(event.resource_id)}`),
    ...field("SHA-256", el("code", {}, cellText(event.content_sha256))),
  );
  ui.detailJson.textContent = prettyJson(event);
  for (const button of [ui.detailUser, ui.detailResource, ui.detailCopy]) button.hidden = false;
  for (const tr of ui.rows.children) tr.classList.toggle("selected", tr.dataset.id === event.id);
}

function showDetailProblem(message, kind = "error") {
  shown = null;
  ui.detailTitle.textContent = "Event";
  ui.detailProblem.hidden = false;
  ui.detailProblem.className = `banner ${kind}`;
  ui.detailProblem.textContent = message;
  clear(ui.detailFields);
  ui.detailJson.textContent = "";
  for (const button of [ui.detailUser, ui.detailResource, ui.detailCopy]) button.hidden = true;
}

async function openDetail(id, { focus = true } = {}) {
  ui.detail.hidden = false;
  ui.content.classList.add("with-detail");
  if (view.event !== id) {
    view = { ...view, event: id };
    history.replaceState({ trail }, "", `${location.pathname}${searchFromState(view)}`);
  }
  const listed = page.events.find((event) => event.id === id);
  if (listed) showEvent(listed);
  else {
    // A linked event that is not on this page: asked for by id (404 if absent or another company's).
    showDetailProblem("Loading…", "info");
    try {
      const found = await getJson(`/audit_events/${encodeURIComponent(id)}`, null, storedKey(), undefined);
      if (view.event !== id) return; // another event (or none) was chosen meanwhile
      showEvent(found);
    } catch (error) {
      if (view.event !== id) return;
      if (error instanceof ApiError && error.status === 401) {
        forgetKey(`The API refused the key (${error.message}). Sign in again.`);
        return;
      }
      showDetailProblem(
        error instanceof ApiError && error.status === 404
          ? `No event ${id} for this key (absent, or another company's).`
          : `The event could not be loaded: ${error.message}`,
      );
    }
  }
  if (focus) ui.detail.focus({ preventScroll: true });
}

function hideDetail() {
  ui.detail.hidden = true;
  ui.content.classList.remove("with-detail");
  shown = null;
  for (const tr of ui.rows.children) tr.classList.remove("selected");
}

function closeDetail(restoreFocus = true) {
  const wasOpen = !ui.detail.hidden;
  hideDetail();
  if (view.event) {
    view = { ...view, event: null };
    history.replaceState({ trail }, "", `${location.pathname}${searchFromState(view)}`);
  }
  if (wasOpen && restoreFocus && returnFocusTo && returnFocusTo.isConnected) returnFocusTo.focus();
}

ui.rows.addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-index]");
  if (!tr) return;
  returnFocusTo = tr.querySelector(".row-open");
  openDetail(page.events[Number(tr.dataset.index)].id);
});

ui.rows.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const buttons = [...ui.rows.querySelectorAll(".row-open")];
  const at = buttons.indexOf(document.activeElement);
  if (at === -1) return;
  event.preventDefault();
  buttons[Math.max(0, Math.min(buttons.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))].focus();
});

ui.detailClose.addEventListener("click", () => closeDetail());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !ui.detail.hidden) closeDetail();
});

function filterBy(name, value) {
  if (value === null || value === undefined) return;
  trail = [];
  navigate({
    filters: { ...view.filters, [name]: String(value) },
    perPage: view.perPage,
    mode: view.mode,
    page: "1",
    cursor: null,
    event: null,
  });
  fillForm(); // the view is set at once; the form shows it while the events load
}

ui.detailUser.addEventListener("click", () => shown && filterBy("user_id", shown.user_id));
ui.detailResource.addEventListener("click", () => shown && filterBy("resource_id", shown.resource_id));

async function copy(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(done);
    return true;
  } catch {
    return false;
  }
}

ui.detailCopy.addEventListener("click", () => {
  if (shown) copy(prettyJson(shown), "The event's JSON is copied.");
});

// --- the link and the export ---------------------------------------------------------------

ui.copyLink.addEventListener("click", async () => {
  const link = location.href; // filters, page, open event: never the key
  ui.linkText.value = link;
  const copied = "Link copied: it restores this view (whoever opens it signs in with their own key).";
  if (await copy(link, copied)) {
    ui.linkFallback.hidden = true;
    return;
  }
  ui.linkFallback.hidden = false; // no clipboard here (not a secure context): copy it by hand
  ui.linkText.focus();
  ui.linkText.select();
});

ui.exportButton.addEventListener("click", async () => {
  const key = storedKey();
  if (!key) {
    showSignIn();
    return;
  }
  clearProblems();
  const format = ui.exportFormat.value === "ndjson" ? "ndjson" : "csv";
  const controller = new AbortController();
  exporting = controller;
  ui.exportButton.disabled = true;
  ui.exportCancel.hidden = false;
  setStatus("Exporting…");
  try {
    const result = await fetchExport(exportParams(view, format), key, controller.signal, (received, total) =>
      setStatus(`Exporting… ${received.toLocaleString("en")} of ${total.toLocaleString("en")} events`),
    );
    const url = URL.createObjectURL(result.blob);
    const link = el("a", { href: url, download: result.name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setStatus(`Exported ${result.events.toLocaleString("en")} events to ${result.name}.`);
  } catch (error) {
    if (error.name === "AbortError") setStatus("Export cancelled; nothing was saved.");
    else showFailure(error);
  } finally {
    exporting = null;
    ui.exportButton.disabled = false;
    ui.exportCancel.hidden = true;
  }
});

ui.exportCancel.addEventListener("click", () => exporting?.abort());

// --- start ---------------------------------------------------------------------------------

for (const slot of document.querySelectorAll(".tz")) slot.textContent = `(${timeZoneName()})`;
// A narrow window starts with the filters folded, so the events come first.
if (window.matchMedia("(max-width: 60rem)").matches) ui.filterPanel.open = false;
history.replaceState({ trail }, "", location.href);
fillForm();
if (storedKey()) load();
else showSignIn();
