// The viewer's only way to the data: the query API, same origin, with the key in the
// Authorization header (never in a URL: a URL ends up in history, logs and Referer headers).

/** An answer of the API other than 2xx, in its one error shape. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const known = body !== null && typeof body === "object";
    super(known && typeof body.message === "string" ? body.message : `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = known && typeof body.error === "string" ? body.error : null;
    this.details = known && Array.isArray(body.details) ? body.details : [];
    this.retryAfter = retryAfter;
  }
}

/** No answer at all (the API is down, or the connection was cut). */
export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

function request(path, params, key, signal) {
  const query = params ? params.toString() : "";
  return fetch(query ? `${path}?${query}` : path, {
    headers: { Authorization: `Bearer ${key}` },
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    signal,
  }).catch((error) => {
    if (error.name === "AbortError") throw error;
    throw new NetworkError("the API did not answer; is authtrail running?");
  });
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers.get("Retry-After"));
}

/** The JSON body of a 2xx answer; otherwise throws ApiError / NetworkError. */
export async function getJson(path, params, key, signal) {
  const response = await request(path, params, key, signal);
  if (!response.ok) throw await failure(response);
  try {
    return await response.json();
  } catch {
    throw new NetworkError("the API's answer was cut short");
  }
}

function attachmentName(disposition, fallback) {
  const match = /filename="([^"]{1,200})"/.exec(disposition || "");
  const name = match ? match[1].replace(/[^A-Za-z0-9._-]/g, "_") : "";
  return name || fallback;
}

/**
 * A whole export, read to its end before anything is saved: a cut stream (the API aborts the
 * connection when the store fails mid-way) rejects, so a partial file is never offered.
 * onProgress(received events, total events) follows the stream.
 */
export async function fetchExport(params, key, signal, onProgress) {
  const response = await request("/audit_events/export", params, key, signal);
  if (!response.ok) throw await failure(response);
  const total = Number(response.headers.get("X-Total-Count") || "0");
  const format = params.get("format");
  const headerLines = format === "csv" ? 1 : 0;
  const reader = response.body.getReader();
  const chunks = [];
  let lines = 0;
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new NetworkError("the export was cut short; nothing was saved — export again");
    }
    if (step.done) break;
    chunks.push(step.value);
    for (const byte of step.value) if (byte === 10) lines += 1;
    onProgress(Math.max(0, lines - headerLines), total);
  }
  return {
    blob: new Blob(chunks, { type: response.headers.get("Content-Type") || "application/octet-stream" }),
    name: attachmentName(response.headers.get("Content-Disposition"), `audit_events.${format}`),
    events: Math.max(0, lines - headerLines),
    total,
  };
}
