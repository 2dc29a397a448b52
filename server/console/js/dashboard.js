// 一屏 Overview: big-number tiles (open alerts by priority, elders served, devices online,
// today's visits and care calls) and a per-community table, from GET /api/dashboard, refreshed
// every 10 s while the tab is shown. Made for a wall screen (1920×1080) and for 1366×768.

import { ApiError, request } from "./api.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, label, t } from "./i18n.js";

const REFRESH_MS = 10_000;
const PRIORITIES = ["P1", "P2", "P3"];

extend({
  "zh-CN": {
    "tab.dashboard": "一屏",
    "db.title": "一屏总览",
    "db.updated": "更新于 {time} · 每 10 秒刷新",
    "db.alerts": "待处理报警",
    "db.unassigned": "未分配 {n}",
    "db.elders": "服务老人",
    "db.devices": "设备在线",
    "db.gateways": "网关在线 {on} / {all}",
    "db.visits": "今日探访",
    "db.visits_sub": "已探访 / 今日应访（含逾期）",
    "db.calls": "今日关爱电话",
    "db.calls_sub": "已拨 {made} · 接通 {answered} · 应拨 {due}",
    "db.tags": "按照护类别",
    "db.communities": "各社区",
    "db.community": "社区",
    "db.street": "街道",
    "db.none": "您负责的区域里还没有社区",
    "db.col.alerts": "待处理报警",
    "db.col.elders": "服务老人",
    "db.col.devices": "设备在线",
    "db.col.gateways": "网关在线",
    "db.col.visits": "今日探访",
    "db.col.calls": "今日电话",
    "db.total": "合计",
  },
  en: {
    "tab.dashboard": "Overview",
    "db.title": "Overview",
    "db.updated": "Updated {time} · refreshes every 10 s",
    "db.alerts": "Open alerts",
    "db.unassigned": "unassigned {n}",
    "db.elders": "Elders served",
    "db.devices": "Devices online",
    "db.gateways": "gateways online {on} / {all}",
    "db.visits": "Visits today",
    "db.visits_sub": "visited / due today (with overdue)",
    "db.calls": "Care calls today",
    "db.calls_sub": "made {made} · answered {answered} · due {due}",
    "db.tags": "By care category",
    "db.communities": "Communities",
    "db.community": "Community",
    "db.street": "Street",
    "db.none": "No communities in your regions yet",
    "db.col.alerts": "Open alerts",
    "db.col.elders": "Elders",
    "db.col.devices": "Devices online",
    "db.col.gateways": "Gateways online",
    "db.col.visits": "Visits today",
    "db.col.calls": "Calls today",
    "db.total": "Total",
  },
});

const openAlerts = (f) => PRIORITIES.reduce((n, p) => n + (f.alerts[p] || 0), 0);
const pct = (part, all) => (all ? `${Math.round((100 * part) / all)}%` : "–");

export class DashboardView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.timer = null;
    this.reset();
  }

  reset() {
    clearTimeout(this.timer);
    this.timer = null;
    this.data = null;
    this.root.replaceChildren();
  }

  translate() {
    if (this.data) this.render();
  }

  async enter() {
    await this.load();
  }

  /** Load now and again every 10 s while the section is shown (a hidden tab stops it). */
  async load() {
    clearTimeout(this.timer);
    this.timer = null;
    try {
      this.data = await request("GET", "/api/dashboard");
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      if (exc instanceof ApiError && (exc.status === 401 || exc.status === 403)) return;
    }
    if (this.data) this.render();
    this.timer = setTimeout(() => {
      if (!this.root.hidden) this.load();
      else this.timer = null;
    }, REFRESH_MS);
  }

  render() {
    const d = this.data;
    const f = d.total;
    const open = openAlerts(f) + d.unassigned_alerts;
    const tags = Object.entries(f.tags).sort((a, b) => b[1] - a[1]);
    this.root.replaceChildren(h("div.db-page", {},
      h("div.db-head", {}, h("h2", {}, t("db.title")), h("span.grow"),
        h("span.muted", { testid: "db-updated" }, t("db.updated", { time: fmtDateTime(d.at) }))),
      h("div.db-tiles", {},
        this.tile("alerts", t("db.alerts"), open, h("div.db-prio", {},
          PRIORITIES.map((p) => h(`span.db-p.${p.toLowerCase()}`, { testid: `db-alerts-${p}` },
            `${p} ${f.alerts[p] || 0}`)),
          d.unassigned_alerts ? h("span.db-p", {}, t("db.unassigned", { n: d.unassigned_alerts }))
            : null), open ? (f.alerts.P1 ? "alarm" : "warn") : "calm"),
        this.tile("elders", t("db.elders"), f.elders, h("div.sub", {},
          tags.slice(0, 3).map(([tag, n]) => `${label("tag", tag)} ${n}`).join(" · "))),
        this.tile("devices", t("db.devices"), `${f.devices_online} / ${f.devices}`,
          h("div.sub", {}, `${pct(f.devices_online, f.devices)} · `,
            t("db.gateways", { on: f.gateways_online, all: f.gateways }))),
        this.tile("visits", t("db.visits"), `${f.visits_done} / ${f.visits_due}`,
          h("div.sub", {}, t("db.visits_sub"))),
        this.tile("calls", t("db.calls"), `${f.calls_made} / ${f.calls_due}`,
          h("div.sub", {}, t("db.calls_sub", { made: f.calls_made, answered: f.calls_answered,
            due: f.calls_due })))),
      h("div.db-tags", { testid: "db-tags" }, h("span.muted", {}, t("db.tags")),
        tags.map(([tag, n]) => h("span.db-tag", { dataset: { tag } },
          h("span", {}, label("tag", tag)), h("b", {}, n)))),
      h("h3", {}, t("db.communities")),
      d.communities.length ? this.table(d) : h("p.empty", {}, t("db.none"))));
  }

  tile(name, title, value, sub, mood = "") {
    return h(`div.db-tile.${name}${mood ? `.${mood}` : ""}`, { testid: `db-${name}` },
      h("div.db-label", {}, title), h("div.db-value", { testid: `db-${name}-value` }, value), sub);
  }

  table(d) {
    const cells = (f) => [
      h("td.num.alerts", {}, h("b", {}, openAlerts(f)), " ",
        h("span.muted", {}, PRIORITIES.map((p) => f.alerts[p] || 0).join(" / "))),
      h("td.num", {}, f.elders),
      h("td.num", {}, `${f.devices_online} / ${f.devices}`),
      h("td.num", {}, `${f.gateways_online} / ${f.gateways}`),
      h("td.num", {}, `${f.visits_done} / ${f.visits_due}`),
      h("td.num", {}, `${f.calls_made} / ${f.calls_due}`),
    ];
    return h("table.db-table", { testid: "db-table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("db.community")), h("th", {}, t("db.street")),
        ["alerts", "elders", "devices", "gateways", "visits", "calls"].map((c) =>
          h("th.num", {}, t(`db.col.${c}`))))),
      h("tbody", {}, d.communities.map((c) => h("tr", { testid: "db-row",
        dataset: { community: c.name } },
      h("td.name", {}, c.name), h("td.muted", {}, [c.district, c.street].filter(Boolean).join(" ")),
      cells(c.figures)))),
      h("tfoot", {}, h("tr", {}, h("td", {}, t("db.total")), h("td", {}), cells(d.total))));
  }
}
