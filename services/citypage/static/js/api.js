// The API as the page uses it: the key from sessionStorage on every request, problem details as errors.

const KEY = "smartcity.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `the API answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function request(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = {};
    }
    throw new ApiError(response.status, problem);
  }
  return { body: await response.json(), location: response.headers.get("Location") };
}

export async function getJson(path) {
  return (await request(path)).body;
}

function withQuery(path, params) {
  const query = new URLSearchParams(params).toString();
  return query ? `${path}${path.includes("?") ? "&" : "?"}${query}` : path;
}

export { withQuery };

// Every item of a paged catalogue list (``items`` or GeoJSON ``features``), following ``next_cursor``.
export async function allPages(path, field = "items") {
  const out = [];
  let cursor = null;
  do {
    const params = { limit: "1000" };
    if (cursor) params.cursor = cursor;
    const page = await getJson(withQuery(path, params));
    out.push(...page[field]);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

export const ROLES = ["public", "planner", "operator", "admin"];

export function atLeast(role, wanted) {
  return ROLES.indexOf(role) >= ROLES.indexOf(wanted);
}
