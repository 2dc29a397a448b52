// Technician view: gateways' and devices' health ("needs attention" filters), installation
// tests (send a test, the technician presses, pass / fail per device), remote gateway commands
// with their results (pending / ok / failed / timeout), and work orders (claim, close with a
// note). Strings: maintenance_i18n.js.

import { ApiError, request } from "./api.js";
import { fmtDateTime, h } from "./dom.js";
import { t } from "./i18n.js";
import "./maintenance_i18n.js";

const REFRESH_MS = 2000;
const OPS = ["status", "scan", "test_alarm", "restart_uplink"];
const enc = encodeURIComponent;

const maintApi = {
  gateways: () => request("GET", "/api/maintenance/gateways"),
  filters: () => request("GET", "/api/maintenance/filters"),
  devices: (filter) => request("GET", `/api/maintenance/devices${filter ? `?filter=${enc(filter)}` : ""}`),
  tests: () => request("GET", "/api/maintenance/tests"),
  startTest: (body) => request("POST", "/api/maintenance/tests", body),
  commands: (gw) => request("GET", `/api/maintenance/gateways/${enc(gw)}/commands`),
  presence: (gw) => request("GET", `/api/maintenance/gateways/${enc(gw)}/presence`),
  send: (gw, op) => request("POST", `/api/maintenance/gateways/${enc(gw)}/commands`, { op }),
  orders: () => request("GET", "/api/maintenance/work-orders"),
  claim: (id) => request("POST", `/api/maintenance/work-orders/${id}/claim`, {}),
  close: (id, note) => request("POST", `/api/maintenance/work-orders/${id}/close`, { note }),
};

function uptime(s) {
  if (s === null || s === undefined) return "—";
  const d = Math.floor(s / 86400), hrs = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${hrs}h` : hrs ? `${hrs}h ${m}m` : `${m}m`;
}

const when = (iso) => (iso ? fmtDateTime(iso) : "—");

function summary(c) {
  if (c.result && c.op === "status") {
    const ob = c.result.outbox || {};
    return t("maint.result.status", { uptime: uptime(c.result.uptime_s), depth: ob.depth ?? "?",
      devices: (c.result.devices || []).length });
  }
  if (c.result && c.op === "scan") {
    return t("maint.result.scan", { ble: (c.result.ble || []).length,
      heard: (c.result.heard_unpaired || []).length });
  }
  return c.detail || "";
}

export class MaintenanceView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
    setInterval(() => { if (!this.root.hidden && this.ctx.me()) this.load(); }, REFRESH_MS);
  }

  reset() {
    this.data = null; // { gateways, devices, tests, orders, filters }
    this.filter = "";
    this.selected = null; // the gateway whose commands and online history are shown
    this.commands = [];
    this.presence = [];
    this.notes = {}; // work order id -> the note being typed
    this.error = "";
    this.parts = null;
  }

  translate() { this.parts = null; this.render(); }

  enter() { this.render(); this.load(); }

  async load() {
    try {
      const [gateways, devices, tests, orders, filters] = await Promise.all([
        maintApi.gateways(), maintApi.devices(this.filter), maintApi.tests(), maintApi.orders(),
        this.data?.filters ? Promise.resolve(this.data.filters) : maintApi.filters()]);
      this.data = { gateways, devices, tests, orders, filters };
      if (!this.selected && gateways.length) this.selected = gateways[0].id;
      if (this.selected) {
        [this.commands, this.presence] = await Promise.all([
          maintApi.commands(this.selected), maintApi.presence(this.selected)]);
      }
      this.error = "";
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.error = exc.explain();
    }
    this.render();
  }

  async act(fn, done) {
    try {
      const result = await fn();
      if (done) done(result);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
    }
    await this.load();
  }

  render() {
    if (!this.parts) {
      this.parts = { error: h("div"), gateways: h("section.maint-block"),
        gateway: h("section.maint-block"), devices: h("section.maint-block"),
        tests: h("section.maint-block"), orders: h("section.maint-block") };
      this.root.replaceChildren(h("h2", {}, t("maint.title")),
        h("p.muted.intro", {}, t("maint.intro")), this.parts.error, this.parts.orders,
        this.parts.gateways, this.parts.gateway, this.parts.devices, this.parts.tests);
    }
    const p = this.parts;
    p.error.replaceChildren(...(this.error ? [h("p.error", { testid: "maint-error" }, this.error)] : []));
    if (!this.data) {
      p.gateways.replaceChildren(h("p.muted", {}, t("detail.loading")));
      return;
    }
    // keep focus in a note being typed: only its own row is rebuilt by input events
    const typing = document.activeElement?.classList?.contains("maint-note");
    if (!typing) p.orders.replaceChildren(...this.orders());
    p.gateways.replaceChildren(...this.gateways());
    p.gateway.replaceChildren(...this.gateway());
    p.devices.replaceChildren(...this.devices());
    p.tests.replaceChildren(...this.tests());
  }

  table(testid, cols, rows, empty) {
    if (!rows.length) return h("p.muted", { testid: `${testid}-empty` }, t(empty));
    return h("table.maint", { testid }, h("thead", {}, h("tr", {},
      ...cols.map((c) => h("th", {}, t(`maint.col.${c}`))))), h("tbody", {}, ...rows));
  }

  gateways() {
    const rows = this.data.gateways.map((g) => {
      const buttons = OPS.map((op) => h("button.small", { testid: `maint-cmd-${op}`,
        onclick: () => this.act(() => maintApi.send(g.id, op), () => { this.selected = g.id; }) },
      t(`maint.op.${op}`)));
      buttons.push(h("button.small.primary", { testid: "maint-test-gateway",
        onclick: () => this.act(() => maintApi.startTest({ gateway_id: g.id }),
          (r) => this.ctx.toast(t("maint.tests_started", { n: r.length }), "info")) },
      t("maint.test_all")));
      const alarms = g.outbox_alarms ? h("span.attn", {}, ` (${t("maint.alarms", { n: g.outbox_alarms })})`) : null;
      const attention = g.attention ? h("span.attn", { testid: "maint-gw-attention" },
        ` · ${t("maint.attention_n", { n: g.attention })}`) : null;
      const select = (e) => { if (e.target.tagName !== "BUTTON") { this.selected = g.id; this.load(); } };
      return h(`tr${g.id === this.selected ? ".selected" : ""}`,
        { testid: `maint-gw-${g.id}`, dataset: { state: g.state }, onclick: select },
        h("td.mono", {}, g.id, g.firmware ? h("div.small.muted", { testid: "maint-gw-firmware" }, `v${g.firmware}`) : null),
        h("td", {}, g.address || "—"),
        h("td", {}, h(`span.online.is-${g.state}`, {}, t(`maint.state.${g.state}`)),
          h("div.small.muted", {}, when(g.last_seen))),
        h("td", {}, uptime(g.uptime_s)),
        h("td", {}, String(g.outbox_depth ?? "—"), alarms),
        h("td", {}, String(g.devices), attention),
        h("td", {}, h("div.maint-actions", {}, ...buttons)));
    });
    return [h("h3", {}, t("maint.gateways")),
      this.table("maint-gateways", ["gateway", "home", "state", "uptime", "outbox", "devices", "actions"],
        rows, "maint.none")];
  }

  gateway() {
    if (!this.selected) return [];
    const rows = this.commands.map((c) => h("tr", { testid: "maint-cmd-row", dataset: { op: c.op, state: c.state } },
      h("td", {}, t(`maint.op.${c.op}`)), h("td", {}, c.actor), h("td", {}, when(c.sent_at)),
      h("td", {}, h(`span.cmd.is-${c.state}`, { testid: "maint-cmd-state" }, t(`maint.cmd.${c.state}`))),
      h("td.small", { testid: "maint-cmd-detail" }, summary(c),
        c.answered_at ? h("div.muted", {}, when(c.answered_at)) : null)));
    const history = this.presence.slice(0, 8).map((p) => h("li", {},
      `${when(p.ts)} · ${t(`maint.state.${p.state}`)}`));
    return [h("h3", {}, t("maint.commands_of", { gateway: this.selected })),
      this.table("maint-commands", ["op", "who", "sent", "result", "detail"], rows, "maint.no_commands"),
      h("h4", {}, t("maint.presence")),
      history.length ? h("ul.maint-presence", { testid: "maint-presence" }, ...history)
        : h("p.muted", {}, t("maint.no_presence"))];
  }

  devices() {
    const chip = (name) => h(`button.small.chip${this.filter === name ? ".on" : ""}`, {
      testid: `maint-filter-${name || "all"}`,
      onclick: () => { this.filter = name; this.load(); } },
    t(name ? `maint.flag.${name}` : "maint.all"));
    const chips = ["", "attention", ...(this.data.filters || [])].map(chip);
    const rows = this.data.devices.map((d) => h("tr", { testid: `maint-dev-${d.uid}`,
      dataset: { attention: d.attention.join(" ") } },
    h("td.mono", {}, d.uid, d.label ? h("div.small", {}, d.label) : null),
    h("td.mono", {}, d.gateway_id), h("td", {}, d.model),
    h("td", {}, d.battery_pct !== null ? `${d.battery_pct}%` : "—"),
    h("td", {}, d.rssi !== null ? `${d.rssi} dBm` : "—"),
    h("td", {}, when(d.last_seen)),
    h("td", {}, t(`maint.sup.${d.supervision}`)),
    h("td", {}, d.self_test ? h(`span.selftest.is-${d.self_test}`, {}, t(`maint.self.${d.self_test}`),
      d.self_test_due ? h("div.small.muted", {}, when(d.self_test_due)) : null) : "—"),
    h("td", {}, d.last_test_state ? t(`maint.test.${d.last_test_state}`) : "—"),
    h("td", {}, ...d.attention.map((a) => h("span.flag", {}, t(`maint.flag.${a}`)))),
    h("td", {}, h("button.small", { testid: "maint-test-device",
      onclick: () => this.act(() => maintApi.startTest({ device: d.uid }),
        () => this.ctx.toast(t("maint.press_now", { device: d.label || d.uid }), "info")) },
    t("maint.send_test")))));
    return [h("h3", {}, t("maint.devices")), h("div.maint-chips", {}, ...chips),
      this.table("maint-devices", ["device", "gateway", "model", "battery", "rssi", "seen",
        "supervision", "self_test", "last_test", "attention", "actions"], rows, "maint.no_devices")];
  }

  tests() {
    const rows = this.data.tests.slice(0, 30).map((x) => h("tr", { testid: `maint-testrow-${x.device}`,
      dataset: { state: x.state } },
    h("td.mono", {}, x.device, x.label ? h("div.small", {}, x.label) : null),
    h("td", {}, x.actor), h("td", {}, when(x.started_at)),
    h("td", {}, h(`span.test.is-${x.state}`, { testid: "maint-test-state" }, t(`maint.test.${x.state}`))),
    h("td", {}, x.state === "pending" ? t("maint.until", { time: when(x.deadline) }) : when(x.ended_at))));
    return [h("h3", {}, t("maint.tests")),
      this.table("maint-tests", ["device", "who", "started", "result", "ended"], rows, "maint.no_tests")];
  }

  orders() {
    const open = this.data.orders.filter((o) => o.state !== "closed");
    const closed = this.data.orders.filter((o) => o.state === "closed").slice(0, 10);
    const rows = [...open, ...closed].map((o) => {
      const note = h("input.maint-note", { placeholder: t("maint.note"), value: this.notes[o.id] || "",
        testid: "maint-order-note", oninput: (e) => { this.notes[o.id] = e.target.value; } });
      const actions = o.state === "closed" ? [h("span.small", {}, o.note)] : [
        o.state === "open" ? h("button.small", { testid: "maint-order-claim",
          onclick: () => this.act(() => maintApi.claim(o.id)) }, t("maint.claim")) : null,
        note,
        h("button.small.primary", { testid: "maint-order-close", onclick: () => {
          const text = (this.notes[o.id] || "").trim();
          if (!text) { this.ctx.toast(t("maint.note_needed"), "error"); return; }
          this.act(() => maintApi.close(o.id, text), () => { delete this.notes[o.id]; });
        } }, t("maint.close"))];
      return h(`tr${o.overdue ? ".overdue" : ""}`, { testid: `maint-order-${o.id}`, dataset: { state: o.state } },
        h("td.mono", {}, o.device, o.label ? h("div.small", {}, o.label) : null),
        h("td", {}, o.address || o.gateway_id || "—"),
        h("td", {}, t(`maint.reason.${o.reason}`)),
        h("td", {}, t(`maint.order.${o.state}`), o.claimed_by ? h("div.small.muted", {}, o.closed_by || o.claimed_by) : null),
        h("td", {}, when(o.due_at), o.overdue ? h("div.attn", {}, t("maint.overdue")) : null),
        h("td", {}, h("div.maint-actions", {}, ...actions)));
    });
    return [h("h3", {}, t("maint.orders")),
      this.table("maint-orders", ["device", "home", "reason", "order_state", "due", "actions"], rows, "maint.no_orders")];
  }
}
