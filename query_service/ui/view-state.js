// What the viewer shows, as plain data, and its two encodings: the viewer's own URL (a link that
// restores the view: filters, page, open event — never the key) and the API's query string.
// Values from the URL are passed on as they are: the API is the one validator, and its 400 names
// the parameter that is wrong.

export const FILTERS = [
  "timestamp_from",
  "timestamp_to",
  "user_id",
  "company_id",
  "event_type",
  "event_resource_type",
  "resource_id",
];
export const DEFAULT_PER_PAGE = "25";
// page × per_page may not pass this (the API's MAX_RESULT_WINDOW): deeper is a cursor walk.
export const MAX_RESULT_WINDOW = 100000;

/**
 * @typedef {object} ViewState
 * @property {Record<string, string>} filters  API filter name → value, as typed or linked
 * @property {string} perPage
 * @property {"pages" | "cursor"} mode  page numbers (with a total) or a cursor walk (order=newest)
 * @property {string} page  page-number mode
 * @property {string | null} cursor  cursor mode: the cursor of this page (null: the first)
 * @property {string | null} event  the id of the event open in the detail panel
 */

/** @returns {ViewState} */
export function stateFromSearch(search) {
  const query = new URLSearchParams(search);
  const filters = {};
  for (const name of FILTERS) {
    const value = query.get(name);
    if (value !== null && value !== "") filters[name] = value;
  }
  const mode = query.get("order") === "newest" || query.has("cursor") ? "cursor" : "pages";
  return {
    filters,
    perPage: query.get("per_page") || DEFAULT_PER_PAGE,
    mode,
    page: (mode === "pages" && query.get("page")) || "1",
    cursor: (mode === "cursor" && query.get("cursor")) || null,
    event: query.get("event") || null,
  };
}

/** The viewer's own query string for ``state`` ("" for the default view). */
export function searchFromState(state) {
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    if (state.filters[name] !== undefined) query.set(name, state.filters[name]);
  }
  if (state.perPage !== DEFAULT_PER_PAGE) query.set("per_page", state.perPage);
  if (state.mode === "cursor") {
    query.set("order", "newest");
    if (state.cursor) query.set("cursor", state.cursor);
  } else if (state.page !== "1") {
    query.set("page", state.page);
  }
  if (state.event) query.set("event", state.event);
  const text = query.toString();
  return text ? `?${text}` : "";
}

function filterParams(state) {
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    if (state.filters[name] !== undefined) query.set(name, state.filters[name]);
  }
  return query;
}

/** ``GET /audit_events``'s parameters for ``state``. A cursor is bound to the filters it was
 * issued with, which are repeated with it (the API checks). */
export function listParams(state) {
  const query = filterParams(state);
  query.set("per_page", state.perPage);
  if (state.mode === "cursor") {
    if (state.cursor) query.set("cursor", state.cursor);
    else query.set("order", "newest");
  } else {
    query.set("page", state.page);
  }
  return query;
}

/** ``GET /audit_events/export``'s parameters: the current filters, every page of them. */
export function exportParams(state, format) {
  const query = filterParams(state);
  query.set("format", format);
  return query;
}

// --- time: the API speaks epoch seconds; people pick local date-times and read UTC too --------

const pad = (number, width = 2) => String(number).padStart(width, "0");

function moment(epochSeconds) {
  if (!/^[0-9]{1,19}$/.test(String(epochSeconds))) return null;
  const date = new Date(Number(epochSeconds) * 1000);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "1652502000" → "2022-05-14T06:20:00" in the viewer's time zone (a datetime-local value). */
export function epochToLocalInput(epochSeconds) {
  const date = moment(epochSeconds);
  if (date === null) return "";
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** A datetime-local value (local time) → epoch seconds as a string; "" → null. */
export function localInputToEpoch(value) {
  if (!value) return null;
  const date = new Date(value); // a date-time without an offset is local time (ECMAScript)
  return Number.isNaN(date.getTime()) ? null : String(Math.floor(date.getTime() / 1000));
}

/** "2022-05-14 06:20:00" in the viewer's time zone. */
export function formatLocal(epochSeconds) {
  return epochToLocalInput(epochSeconds).replace("T", " ");
}

/** "2022-05-14 04:20:00 UTC". */
export function formatUtc(epochSeconds) {
  const date = moment(epochSeconds);
  if (date === null) return "";
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function isoUtc(epochSeconds) {
  const date = moment(epochSeconds);
  return date === null ? "" : date.toISOString();
}

export function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  } catch {
    return "local time";
  }
}
