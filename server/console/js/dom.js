// Small DOM and formatting helpers. Text always goes in as text (never parsed as HTML).

import { getLang } from "./i18n.js";

/** ``h("button.primary", {onclick, dataset: {x: 1}}, "text", child…)`` → an element. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.className += (el.className ? " " : "") + value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes; text children become text nodes. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// --- clock: the server's time, corrected from HTTP Date headers when the PC clock is off ---

let offsetMs = 0;

export function noteServerDate(header) {
  const server = Date.parse(header || "");
  if (Number.isNaN(server)) return;
  const diff = server - Date.now();
  offsetMs = Math.abs(diff) > 2000 ? diff : 0; // Date has 1 s resolution: ignore small skew
}

export function now() {
  return Date.now() + offsetMs;
}

/** Seconds since an ISO timestamp (server clock). */
export function ageSeconds(iso) {
  return Math.max(0, Math.floor((now() - Date.parse(iso)) / 1000));
}

/** 73 → "01:13"; 3725 → "1:02:05". */
export function mmss(seconds) {
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  return hours ? `${hours}:${two(minutes)}:${two(rest)}` : `${two(minutes)}:${two(rest)}`;
}

function locale() {
  return getLang() === "en" ? "en-GB" : "zh-CN";
}

export function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(locale(), { hour12: false });
}

export function fmtDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date(now()).toDateString() === d.toDateString();
  const date = d.toLocaleDateString(locale(), { month: "2-digit", day: "2-digit" });
  return today ? fmtTime(iso) : `${date} ${fmtTime(iso)}`;
}

/** "2024-05-01 08:00" in local time, whatever the day. */
export function fmtFull(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} `
    + `${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function yearsSince(isoDate) {
  if (!isoDate) return null;
  const born = new Date(isoDate);
  const today = new Date(now());
  let years = today.getFullYear() - born.getFullYear();
  const before = today.getMonth() < born.getMonth()
    || (today.getMonth() === born.getMonth() && today.getDate() < born.getDate());
  if (before) years -= 1;
  return years;
}

/** Is the user typing in a field (where single-key shortcuts must not fire)? */
export function typing(target) {
  if (!target || !(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  return !["button", "checkbox", "radio", "submit", "reset"].includes(target.type);
}
