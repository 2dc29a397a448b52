// The console's wiring: sign-in, header, views (queue, history, reports), the live feed,
// the age timers and the keyboard.

import { accountDialog, codeSignInDialog } from "./account.js";
import { AlertView } from "./alert.js";
import { api, whenUnauthenticated } from "./api.js";
import { closeDialog, dialogOpen, helpDialog } from "./dialogs.js";
import { $, ageSeconds, h, mmss, s, typing } from "./dom.js";
import { getLang, label, setLang, t, translate } from "./i18n.js";
import { HistoryView } from "./history.js";
import { LiveFeed } from "./live.js";
import { PHONE_IN_ROLES, phoneInDialog } from "./phonein.js";
import { QueueList } from "./queue.js";
import { sound } from "./sound.js";
import { AlertStore } from "./store.js";
import { allowed, VIEWS } from "./views.js";

const WARN_S = 45; // the age timer turns amber …
const LATE_S = 60; // … and red (industry target: 97.5 % answered within 60 s)
const BUILT_IN = ["queue", "history"];

// ``autoSelected``: the selection follows the top of the queue until the operator picks an
// alert or acts on one (then it stays where they put it).
const state = { me: null, view: "queue", selected: null, autoSelected: false };
const store = new AlertStore();
let live = null;
let queueList;
let queueDetail;
let historyDetail;
let historyView;
const views = new Map(); // name → the registered view's instance (views.js)

// ------------------------------------------------------------------ sign-in and out

function langFor(user) {
  return localStorage.getItem(`pal.lang.${user?.username}`) || user?.language
    || localStorage.getItem("pal.lang") || "zh-CN";
}

function showLogin(message = "") {
  $("#app").hidden = true;
  $("#login").hidden = false;
  const error = $("[data-testid=login-error]");
  error.textContent = message;
  error.hidden = !message;
  translate();
  paintLangToggles();
  $("[data-testid=login-username]").focus();
}

async function onLogin(event) {
  event.preventDefault();
  sound.unlock(); // the sign-in click is the gesture that lets the page beep later
  const form = event.target;
  const button = $("[data-testid=login-submit]");
  button.disabled = true;
  try {
    const { user } = await api.login(form.elements.username.value.trim(),
      form.elements.password.value);
    form.elements.password.value = "";
    start(user);
  } catch (exc) {
    showLogin(exc.status === 429 ? t("login.locked", { seconds: exc.retryAfter ?? 60 })
      : exc.status === 401 ? t("login.failed") : exc.explain());
  } finally {
    button.disabled = false;
  }
}

function signedOut(message = "") {
  live?.stop();
  live = null;
  closeDialog();
  store.clear();
  historyView.reset();
  for (const view of views.values()) view.reset();
  state.me = null;
  state.selected = null;
  state.autoSelected = false;
  showLogin(message);
}

async function logout() {
  await api.logout().catch(() => {});
  signedOut();
}

// ------------------------------------------------------------------ the app

function start(me) {
  live?.stop();
  state.me = me;
  setLang(langFor(me));
  store.clear();
  store.includeTest = me.role === "technician";
  $("#login").hidden = true;
  $("#app").hidden = false;
  for (const view of VIEWS) $(`[data-testid=tab-${view.name}]`).hidden = !allowed(view, me);
  for (const name of BUILT_IN) $(`[data-testid=tab-${name}]`).hidden = !viewAllowed(name);
  $("[data-testid=phone-in]").hidden = !PHONE_IN_ROLES.includes(me.role);
  paint();
  queueDetail.show(null);
  historyDetail.show(null);
  route();
  if (me.role === "visitor") return; // no alert queue, no live feed
  live = new LiveFeed({
    hello: ({ resumed }) => { if (!resumed) loadQueue(); },
    change,
    status: liveStatus,
    unauthorized: () => signedOut(t("error.session")),
    refused: () => api.session().catch(() => {}), // a 401 here signs the page out
  });
  live.start();
}

/** Everything with words in it, in the current language. */
function paint() {
  translate();
  paintLangToggles();
  paintHeader();
  historyView.translate();
  views.get(state.view)?.translate();
  renderQueue();
  queueDetail.rerender();
  historyDetail.rerender();
}

function paintHeader() {
  const me = state.me;
  if (!me) return;
  $("[data-testid=who]").replaceChildren(h("b", {}, me.display_name), " ",
    h("span.role", { testid: "role" }, label("role", me.role)));
  const mute = $("[data-testid=mute]");
  mute.replaceChildren(bellIcon(sound.muted));
  mute.title = t(sound.muted ? "header.mute" : "header.unmute");
  mute.setAttribute("aria-pressed", sound.muted ? "true" : "false");
  liveStatus(live?.status ?? "connecting");
}

/** A bell (struck through when muted), drawn inline: no icon font or emoji font needed. */
function bellIcon(muted) {
  return s("svg", { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor",
    "stroke-width": 2, "stroke-linecap": "round", "aria-hidden": "true" },
  s("path", { d: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4z" }),
  s("path", { d: "M10 20a2 2 0 0 0 4 0" }),
  muted ? s("path", { d: "M3 3l18 18", stroke: "#ff8a80" }) : null);
}

function paintLangToggles() {
  for (const el of document.querySelectorAll(".lang-toggle")) {
    el.textContent = getLang() === "en" ? "中文" : "English";
  }
}

function toggleLang() {
  const next = getLang() === "en" ? "zh-CN" : "en";
  setLang(next);
  localStorage.setItem("pal.lang", next);
  if (state.me) localStorage.setItem(`pal.lang.${state.me.username}`, next);
  if (state.me) paint();
  else showLogin($("[data-testid=login-error]").hidden ? "" : $("[data-testid=login-error]").textContent);
}

function liveStatus(status) {
  if (live) live.status = status;
  const el = $("[data-testid=live-status]");
  el.dataset.state = status;
  el.textContent = t({ up: "live.on", down: "live.down", connecting: "live.connecting" }[status]);
  $("[data-testid=reconnecting]").hidden = status !== "down";
}

// ------------------------------------------------------------------ queue

async function loadQueue() {
  const me = state.me;
  try {
    const rows = await api.queue(store.includeTest);
    if (me !== state.me) return;
    for (const row of rows) store.apply(row);
    renderQueue();
  } catch (exc) {
    if (exc.status === 401 || me !== state.me) return;
    toast(exc.explain(), "error");
    setTimeout(() => { if (me === state.me) loadQueue(); }, 3000);
  }
}

function change(message) {
  const alert = message.alert;
  const result = store.apply(alert);
  if (result === "added" && alert.priority === "P1" && alert.state === "open") sound.alarm();
  if (result) renderQueue();
  queueDetail.changed(alert.id);
  historyDetail.changed(alert.id);
  historyView.changed(alert);
}

/** A summary (or detail) read by a view: newer than what the queue has? */
function merged(summary) {
  if (store.apply(summary)) renderQueue();
  historyView.changed(summary);
}

function renderQueue() {
  const rows = store.sorted();
  const follow = state.selected === null || state.autoSelected;
  if (follow && rows.length && rows[0].id !== state.selected && state.view === "queue") {
    select(rows[0].id, true);
    return;
  }
  queueList.render(rows, state.selected);
  $("[data-testid=queue-count]").textContent = rows.length ? String(rows.length) : "";
  tick();
}

function select(id, auto = false) {
  state.selected = id;
  state.autoSelected = auto;
  queueList.render(store.sorted(), id);
  $("[data-testid=queue-count]").textContent = store.alerts.size ? String(store.alerts.size) : "";
  queueDetail.show(id);
  tick();
  if (state.view === "queue") history.replaceState(null, "", id ? `#/queue/${id}` : "#/queue");
}

/** Every age timer: mm:ss since the alarm; amber from 45 s and red from 60 s while unclaimed. */
function tick() {
  for (const el of document.querySelectorAll("[data-since]")) {
    const age = ageSeconds(el.dataset.since);
    el.textContent = mmss(age);
    const unclaimed = el.dataset.unclaimed === "1";
    el.classList.toggle("age-warn", unclaimed && age >= WARN_S && age < LATE_S);
    el.classList.toggle("age-late", unclaimed && age >= LATE_S);
  }
}

// ------------------------------------------------------------------ views and keys

function route() {
  const [, view, ...rest] = location.hash.split("/");
  const path = rest.join("/");
  setView(view, false, path);
  if (state.view === "queue" && path && Number(path)) select(Number(path));
}

/** Where a user lands: the queue; a visitor, who has no queue, their visits. */
function home() {
  return state.me?.role === "visitor" ? "visits" : "queue";
}

function viewAllowed(name) {
  if (BUILT_IN.includes(name)) return state.me?.role !== "visitor";
  const view = VIEWS.find((v) => v.name === name);
  return Boolean(view && allowed(view, state.me));
}

/** Show view ``name`` (the queue if this user may not see it); ``path``: the rest of the hash. */
function setView(name, push = true, path = "") {
  const view = viewAllowed(name) ? name : home();
  state.view = view;
  for (const el of document.querySelectorAll("main > .view")) el.hidden = el.dataset.view !== view;
  for (const el of document.querySelectorAll(".tabs [data-view]")) {
    el.setAttribute("aria-selected", el.dataset.view === view ? "true" : "false");
  }
  if (view === "history") historyView.enter();
  if (view === "queue") renderQueue();
  views.get(view)?.enter(path);
  if (push) history.replaceState(null, "", path ? `#/${view}/${path}` : `#/${view}`);
}

/** Go to an address inside the console (``#/view/path``), as a link would. */
function go(hash) {
  history.replaceState(null, "", hash);
  route();
}

function activeDetail() {
  if (state.view === "queue") return queueDetail;
  if (state.view === "history") return historyDetail;
  return null;
}

const KEYS = { c: "claim", r: "resolve", n: "note", p: "call", d: "dispatch" };

function onKey(event) {
  if (!state.me || dialogOpen() || typing(event.target)) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  const detail = activeDetail();
  if (KEYS[key.toLowerCase()] && detail) {
    event.preventDefault();
    state.autoSelected = false;
    detail.trigger(KEYS[key.toLowerCase()]);
  } else if (["j", "ArrowDown", "k", "ArrowUp"].includes(key) && state.view === "queue") {
    event.preventDefault();
    const next = queueList.neighbour(key === "j" || key === "ArrowDown" ? 1 : -1);
    if (next !== null) select(next);
  } else if (key === "i" && PHONE_IN_ROLES.includes(state.me.role)) {
    event.preventDefault();
    phoneIn();
  } else if (key === "?") {
    event.preventDefault();
    helpDialog();
  } else if (key === "m") {
    toggleMute();
  }
}

/** An inbound call: open an alert for it (the header button, the ``i`` key). */
function phoneIn() {
  phoneInDialog({ me: () => state.me, toast, merged, tick, go });
}

function toggleMute() {
  sound.toggle();
  paintHeader();
}

// ------------------------------------------------------------------ toasts

const MAX_TOASTS = 3;

function toast(text, kind = "info") {
  const box = $("[data-testid=toasts]");
  const el = h(`div.toast.${kind}`, { testid: "toast", role: kind === "error" ? "alert" : "status" },
    text);
  if (kind === "ok") box.querySelectorAll(".toast.ok").forEach((old) => old.remove());
  box.append(el);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === "error" ? 8000 : kind === "ok" ? 2500 : 5000);
}

// ------------------------------------------------------------------ boot

/** A tab and a section for each registered view (views.js), hidden until a user may see it. */
function mountViews(ctx) {
  const tabs = $(".tabs");
  const main = $("main");
  for (const view of VIEWS) {
    if (view.css) document.head.append(h("link", { rel: "stylesheet", href: view.css }));
    tabs.append(h("button", { role: "tab", "data-view": view.name, "data-t": view.tab,
      testid: `tab-${view.name}`, hidden: true }));
    const section = h(`section.view.${view.name}`, { "data-view": view.name,
      testid: view.name, hidden: true });
    main.append(section);
    views.set(view.name, new view.View(section, ctx));
  }
}

async function boot() {
  setLang(localStorage.getItem("pal.lang") || "zh-CN");
  const ctx = { me: () => state.me, toast, merged, tick, go };
  queueDetail = new AlertView($("[data-testid=detail-queue]"), ctx);
  historyDetail = new AlertView($("[data-testid=detail-history]"), ctx);
  historyView = new HistoryView($('main > [data-view="history"]'), historyDetail, ctx);
  mountViews(ctx);
  queueList = new QueueList($("[data-testid=queue]"), $("[data-testid=queue-empty]"),
    (id) => select(id));
  $("[data-testid=detail-queue]").addEventListener("pointerdown", () => {
    state.autoSelected = false; // working on this alert: keep it in view
  });
  translate();

  $("[data-testid=login-form]").addEventListener("submit", onLogin);
  for (const el of document.querySelectorAll(".lang-toggle")) el.addEventListener("click", toggleLang);
  for (const el of document.querySelectorAll(".tabs [data-view]")) {
    el.addEventListener("click", () => setView(el.dataset.view));
  }
  const phoneInButton = h("button.phone-in", { testid: "phone-in", hidden: true,
    "data-t-title": "help.phone_in", onclick: phoneIn },
  h("span", { "data-t": "phonein.button" }), h("kbd", {}, "I"));
  $("header.top .spacer").before(phoneInButton);
  $("[data-action=mute]").addEventListener("click", toggleMute);
  $("[data-action=help]").addEventListener("click", helpDialog);
  $("[data-action=logout]").addEventListener("click", logout);
  $("[data-action=account]").addEventListener("click", () => accountDialog(ctx));
  $("[data-testid=login-with-code]").addEventListener("click", () => codeSignInDialog(start,
    $("[data-testid=login-username]").value.trim()));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => { if (state.me) route(); }); // links between views
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => state.me && sound.unlock(), { capture: true });
  }
  whenUnauthenticated(() => signedOut(t("error.session")));
  setInterval(tick, 1000);

  try {
    start(await api.me());
  } catch {
    showLogin();
  }
}

boot();
