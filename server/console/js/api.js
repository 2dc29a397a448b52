// The server's HTTP API: JSON in and out, the session cookie, one error type.

import { noteServerDate } from "./dom.js";
import { t } from "./i18n.js";

/** An API error in the server's one format: {"error": {code, message, details, holder?}}. */
export class ApiError extends Error {
  constructor(status, error, retryAfter = null) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || (status ? "error" : "network");
    this.details = error?.details || [];
    this.holder = error?.holder;
    this.retryAfter = retryAfter; // seconds to wait (429)
  }

  /** What to tell the operator, in their language (a detail whose ``type`` has a ``why.<type>``
   * string, such as a password-policy rule, is said in words). */
  explain() {
    const said = (d) => (t(`why.${d.type}`) !== `why.${d.type}` ? t(`why.${d.type}`)
      : `${d.field}: ${d.message}`);
    const message = this.details.length ? this.details.map(said).join("; ") : this.message;
    if (this.code === "already_claimed") return t("error.already_claimed", { holder: this.holder });
    if (this.code === "network") return t("error.network");
    if (this.status === 401) return t("error.session");
    const known = ["invalid_transition", "forbidden", "not_found", "invalid", "conflict"];
    if (known.includes(this.code)) return t(`error.${this.code}`, { message });
    return t("error.server", { status: this.status, message });
  }
}

let onUnauthenticated = () => {};

/** What to do when the session is gone (any 401 but the sign-in's own). */
export function whenUnauthenticated(fn) {
  onUnauthenticated = fn;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "network error" });
  }
  noteServerDate(response.headers.get("date"));
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error,
      Number(response.headers.get("retry-after")) || null);
    if (response.status === 401 && !quiet401) onUnauthenticated(error);
    throw error;
  }
  return data;
}

const get = (path) => request("GET", path);
const post = (path, body = {}) => request("POST", path, body);
const del = (path) => request("DELETE", path);

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

export const api = {
  login: (username, password) =>
    request("POST", "/api/auth/login", { username, password }, { quiet401: true }),
  me: () => request("GET", "/api/auth/me", undefined, { quiet401: true }),
  /** Is the session still good? A 401 signs the page out (see whenUnauthenticated). */
  session: () => get("/api/auth/me"),
  logout: () => request("POST", "/api/auth/logout", undefined, { quiet401: true }),
  queue: (includeTest) => get(`/api/alerts/queue${query({ include_test: includeTest || "" })}`),
  history: (params) => get(`/api/alerts${query(params)}`),
  alert: (id) => get(`/api/alerts/${id}`),
  claim: (id) => post(`/api/alerts/${id}/claim`),
  release: (id) => post(`/api/alerts/${id}/release`),
  note: (id, text) => post(`/api/alerts/${id}/notes`, { text }),
  call: (id, body) => post(`/api/alerts/${id}/calls`, body),
  dispatch: (id, body) => post(`/api/alerts/${id}/dispatches`, body),
  dispatchStatus: (id, dispatchId, status) =>
    request("PATCH", `/api/alerts/${id}/dispatches/${dispatchId}`, { status }),
  resolve: (id, outcome, note) => post(`/api/alerts/${id}/resolve`, { outcome, note }),
  keySafe: (id) => post(`/api/alerts/${id}/key-safe`),
  override: (id, reason) => post(`/api/alerts/${id}/override`, { reason }),
  vitals: (residentId) => get(`/api/residents/${residentId}/vitals?hours=24`),
  activity: (residentId) => get(`/api/residents/${residentId}/activity?hours=24`),
  acc: (id) => get(`/api/alerts/${id}/acc`),
  answerTimes: (since, until) => get(`/api/reports/answer-times${query({ since, until })}`),
  // one's own account; signing in with a one-time code (its 401 is not "session ended")
  codeSignIn: (username, code, newPassword) => request("POST", "/api/auth/reset",
    { username, code, new_password: newPassword }, { quiet401: true }),
  changePassword: (current, next) =>
    post("/api/auth/password", { current_password: current, new_password: next }),
  mySessions: () => get("/api/auth/sessions"),
  endMySession: (id) => del(`/api/auth/sessions/${id}`),
  // users (admins), lockouts (supervisors), the audit trail (auditors)
  regions: () => get("/api/regions"),
  users: () => get("/api/users"),
  addUser: (body) => post("/api/users", body),
  updateUser: (id, body) => request("PATCH", `/api/users/${id}`, body),
  deactivateUser: (id) => post(`/api/users/${id}/deactivate`),
  activateUser: (id) => post(`/api/users/${id}/activate`),
  resetPassword: (id) => post(`/api/users/${id}/reset`),
  sessions: (userId) => get(`/api/sessions${query({ user_id: userId })}`),
  endSession: (id) => del(`/api/sessions/${id}`),
  endUserSessions: (id) => del(`/api/users/${id}/sessions`),
  lockouts: () => get("/api/lockouts"),
  clearLockout: (kind, subject) =>
    del(`/api/lockouts/${kind}/${encodeURIComponent(subject)}`),
  userAudit: (params = {}) => get(`/api/audit/users${query(params)}`),
  // privacy: the access log (supervisors, admins, auditors), a resident's export and erasure
  accessLog: (params = {}) => get(`/api/access-log${query(params)}`),
  exportResident: (id) => get(`/api/residents/${id}/export`),
  eraseResident: (id) => post(`/api/residents/${id}/erase`),
  informTasks: () => get("/api/inform-tasks"),
  closeInformTask: (id, note) => post(`/api/inform-tasks/${id}/close`, { note }),
};
