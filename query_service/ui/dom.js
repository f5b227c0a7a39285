// DOM building without HTML parsing: every value becomes a text node or an attribute value, so
// nothing an event carries (event_data is written by the product's users) is ever read as markup.
// This module is the only place that creates elements; no file of the viewer uses innerHTML.

/** An element with attributes (strings; null/undefined/false skipped) and children (nodes, or
 * anything else as text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

export function append(node, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// Characters that reorder or hide text (bidirectional overrides, zero-width marks): an attacker
// could make "evil.exe" read as "exe.live" in a summary. Shown as visible escapes instead.
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;

function visibleEscape(char) {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** Text with its invisible/reordering characters made visible, and every line break and run of
 * white space collapsed to one space (one line). */
export function oneLine(text) {
  return String(text).replace(INVISIBLE, visibleEscape).replace(/\s+/g, " ").trim();
}

function valueText(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((item) => item === null || typeof item !== "object")) {
    return value.map((item) => (typeof item === "string" ? item : JSON.stringify(item))).join(", ");
  }
  return JSON.stringify(value);
}

/** A one-line summary of event_data: "title: … · body: … · labels: a, b" (title first). */
export function summarize(data) {
  if (data === null || data === undefined) return "";
  if (typeof data !== "object" || Array.isArray(data)) return oneLine(JSON.stringify(data));
  const entries = Object.entries(data);
  entries.sort(([a], [b]) => (b === "title") - (a === "title"));
  return oneLine(entries.map(([name, value]) => `${name}: ${valueText(value)}`).join(" · "));
}

export function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The event as indented JSON; invisible characters as \uXXXX escapes (still the same JSON). */
export function prettyJson(value) {
  return JSON.stringify(value, null, 2).replace(INVISIBLE, visibleEscape);
}
