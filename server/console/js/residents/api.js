// The directory's and the phone-in's HTTP API (over api.js's request: one error type).

import { request } from "../api.js";

const get = (path) => request("GET", path);
const send = (method) => (path, body = {}) => request(method, path, body);
const post = send("POST");
const patch = send("PATCH");
const put = send("PUT");

export const directoryApi = {
  vocabulary: () => get("/api/directory/vocabulary"),
  regions: () => get("/api/regions"),
  search: (q, includeInactive = false, tags = []) => get(`/api/residents?${new URLSearchParams([
    ["q", q], ...(includeInactive ? [["include_inactive", "true"]] : []),
    ...tags.map((tag) => ["tag", tag])])}`),
  tagCounts: () => get("/api/directory/tag-counts"),
  carePlan: (id) => get(`/api/residents/${id}/care-plan`),
  rules: () => get("/api/care-rules"),
  rulesHistory: () => get("/api/care-rules/history"),
  addRule: (body) => post("/api/care-rules", body),
  editRule: (id, body) => put(`/api/care-rules/${id}`, body),
  deleteRule: (id) => request("DELETE", `/api/care-rules/${id}`),
  resident: (id) => get(`/api/residents/${id}`),
  alerts: (id) => get(`/api/residents/${id}/alerts`),
  history: (id) => get(`/api/residents/${id}/history`),
  devices: (id) => get(`/api/residents/${id}/devices`),
  addResident: (body) => post("/api/residents", body),
  editResident: (id, body) => patch(`/api/residents/${id}`, body),
  setStatus: (id, body) => put(`/api/residents/${id}/status`, body),
  setLimits: (id, body) => put(`/api/residents/${id}/limits`, body),
  reorder: (id, contactIds) => put(`/api/residents/${id}/contacts/order`, { contact_ids: contactIds }),
  addHome: (body) => post("/api/homes", body),
  editHome: (id, body) => patch(`/api/homes/${id}`, body),
  addContact: (body) => post("/api/contacts", body),
  editContact: (id, body) => patch(`/api/contacts/${id}`, body),
  deactivateContact: (id, note = "") => post(`/api/contacts/${id}/deactivate`, { note }),
  phoneIn: (body) => post("/api/alerts/phone-in", body),
  consents: (id) => get(`/api/residents/${id}/consents`),
  grantConsent: (id, body) => post(`/api/residents/${id}/consents`, body),
  withdrawConsent: (id, scope, withdrawnBy) =>
    post(`/api/residents/${id}/consents/${scope}/withdraw`, { withdrawn_by: withdrawnBy }),
};
