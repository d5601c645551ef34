// The REST API, with the session cookie and the CSRF token header
// (DRF's SessionAuthentication enforces CSRF on unsafe methods).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `The request failed (${status}).`);
    this.status = status;
    this.code = (body && body.code) || "error";
    this.detail = this.message;
    this.fields = (body && body.fields) || null;
    this.retryAfter = body && body.retry_after;
  }
}

const handlers = { unauthenticated: () => {} };
export function setUnauthenticatedHandler(handler) {
  handlers.unauthenticated = handler;
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

export async function api(method, path, body, { signal, withHeaders = false } = {}) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/${path}`, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { code: "network", detail: "The server cannot be reached. Check your connection." });
  }
  if (response.status === 204) return null;
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    data = await response.json().catch(() => null);
  }
  if (!response.ok) {
    if (response.status === 401) handlers.unauthenticated();
    if (!data || !data.detail) {
      const fallback = {
        413: "The file is too large.",
        429: "Too many requests. Try again in a moment.",
        502: "The server is restarting. Try again in a moment.",
        503: "The server is busy. Try again in a moment.",
      }[response.status];
      data = { ...(data || {}), detail: fallback || `The server answered ${response.status} ${response.statusText}.` };
    }
    throw new ApiError(response.status, data);
  }
  return withHeaders ? { data, headers: response.headers } : data;
}

// Every page of a list the API pages with X-Next-Cursor (the room list), each
// handed to onPage as it arrives.
export async function getPages(path, params, onPage, { maxPages = 100 } = {}) {
  let cursor = "";
  for (let page = 0; page < maxPages; page += 1) {
    const { data, headers } = await api("GET", `${path}${query({ ...params, cursor })}`, undefined, { withHeaders: true });
    onPage(data);
    cursor = headers.get("X-Next-Cursor");
    if (!cursor) return;
  }
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body === undefined ? {} : body, options);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// A person-readable sentence for any error from the API or the socket.
export function describeError(error) {
  if (!error) return "Something went wrong.";
  let text = error.detail || error.message || "Something went wrong.";
  const retry = error.retryAfter ?? error.retry_after;
  if ((error.code === "rate_limited" || error.status === 429) && retry && !/\bwait\b/i.test(text)) text += ` Wait ${retry} s.`;
  if (error.fields) {
    const details = Object.entries(error.fields)
      .filter(([field]) => field !== "non_field_errors" || text === "Invalid input.")
      .map(([field, messages]) => `${field === "non_field_errors" ? "" : `${field}: `}${[].concat(messages).join(" ")}`);
    if (details.length && !details.every((d) => text.includes(d))) text += ` (${details.join("; ")})`;
  }
  return text;
}
