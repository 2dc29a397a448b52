// Supervisor view: answer times of P1/P2 alarms for a period (share within 60 s / 180 s,
// p50 / p90) against the industry target (97.5 % within 60 s); the monthly service report
// (a month and an area: CSV and XLSX downloads, the printable page in a new tab).

import { api, ApiError } from "./api.js";
import { fmtFull, h, now } from "./dom.js";
import { t } from "./i18n.js";

const PERIODS = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 };
const INDENT = { "区": "", "街道": "\u3000", "社区": "\u3000\u3000" };

function lastMonth() {
  const d = new Date(now());
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

/** Regions in tree order (each under its parent). */
function treeOrder(regions) {
  const out = [];
  const walk = (parent) => regions.filter((r) => (r.parent_id ?? null) === parent)
    .sort((a, b) => a.name.localeCompare(b.name, "zh")).forEach((r) => { out.push(r); walk(r.id); });
  walk(null);
  return out;
}

function pct(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)}%`;
}

function seconds(value) {
  return value === null || value === undefined ? "–" : t("unit.s", { n: value });
}

export class ReportsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.period = "24h";
    this.report = null;
    this.error = "";
    this.month = lastMonth();
    this.area = "";
    this.regions = null;
  }

  reset() {
    this.period = "24h";
    this.report = null;
    this.error = "";
    this.month = lastMonth();
    this.area = "";
    this.regions = null;
  }

  translate() {
    this.render();
  }

  enter() {
    this.render();
    if (!this.report) this.load();
    if (!this.regions) this.loadRegions();
  }

  async loadRegions() {
    try {
      this.regions = treeOrder(await api.regions());
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.regions = [];
    }
    this.render();
  }

  monthlyUrl(format) {
    const q = new URLSearchParams({ month: this.month, format });
    if (this.area) q.set("area", this.area);
    return `/api/reports/monthly?${q}`;
  }

  monthly() {
    const links = {
      csv: h("a.button", { testid: "monthly-csv", download: `report-${this.month}.csv` },
        t("monthly.csv")),
      xlsx: h("a.button", { testid: "monthly-xlsx", download: `report-${this.month}.xlsx` },
        t("monthly.xlsx")),
      html: h("a.button.primary", { testid: "monthly-html", target: "_blank", rel: "noopener" },
        t("monthly.print")),
    };
    const update = () => {
      for (const [format, a] of Object.entries(links)) a.href = this.monthlyUrl(format);
      links.csv.download = `report-${this.month}.csv`;
      links.xlsx.download = `report-${this.month}.xlsx`;
    };
    update();
    const areas = [h("option", { value: "" }, t("monthly.all_areas")),
      ...(this.regions || []).map((r) => h("option",
        { value: String(r.id), selected: String(r.id) === this.area },
        `${INDENT[r.level] ?? ""}${r.name}（${r.level}）`))];
    return h("section.monthly", { testid: "monthly" },
      h("h3", {}, t("monthly.title")),
      h("form.report-form", { onsubmit: (e) => e.preventDefault() },
        h("label", {}, t("monthly.month"), h("input", {
          type: "month", name: "month", value: this.month, required: true, testid: "monthly-month",
          onchange: (e) => { if (e.target.value) { this.month = e.target.value; update(); } } })),
        h("label", {}, t("monthly.area"), h("select", {
          name: "area", testid: "monthly-area",
          onchange: (e) => { this.area = e.target.value; update(); } }, ...areas)),
        links.csv, links.xlsx, links.html),
      h("p.muted.small", {}, t("monthly.note")));
  }

  range() {
    if (this.period !== "custom") {
      const until = new Date(now());
      return [new Date(until - PERIODS[this.period] * 3600 * 1000).toISOString(),
        until.toISOString()];
    }
    const f = this.root.querySelector("form").elements;
    const day = (v, add) => {
      if (!v) return "";
      const d = new Date(`${v}T00:00:00`);
      d.setDate(d.getDate() + add);
      return d.toISOString();
    };
    return [day(f.since.value, 0), day(f.until.value, 1)];
  }

  async load() {
    const [since, until] = this.range();
    try {
      this.report = await api.answerTimes(since, until);
      this.error = "";
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.report = null;
      this.error = exc.status === 403 ? t("reports.forbidden") : exc.explain();
    }
    this.render();
  }

  render() {
    const periods = [...Object.keys(PERIODS), "custom"].map((p) => h("label.choice.inline", {},
      h("input", { type: "radio", name: "period", value: p, checked: p === this.period,
        testid: `period-${p}`,
        onchange: () => { this.period = p; this.render(); if (p !== "custom") this.load(); } }),
      h("span", {}, t(`reports.p.${p}`))));
    const custom = this.period === "custom" ? [
      h("label", {}, t("history.since"), h("input", { type: "date", name: "since", required: true })),
      h("label", {}, t("history.until"), h("input", { type: "date", name: "until", required: true })),
      h("button.primary", { type: "submit" }, t("reports.show"))] : [];
    const form = h("form.report-form", { onsubmit: (e) => { e.preventDefault(); this.load(); } },
      h("span.k", {}, t("reports.period")), ...periods, ...custom);
    this.root.replaceChildren(h("h2", {}, t("reports.title")), form, this.figures(),
      h("p.muted.small", {}, t("reports.note")), this.monthly());
  }

  figures() {
    if (this.error) return h("p.error", { testid: "report-error" }, this.error);
    const r = this.report;
    if (!r) return h("p.muted", {}, t("detail.loading"));
    const target = (share, goal) => {
      if (share === null || share === undefined) return null;
      const met = share >= goal;
      return h(`span.verdict.${met ? "met" : "missed"}`, {},
        `${t("reports.target", { pct: pct(goal) })} · ${t(met ? "reports.met" : "reports.missed")}`);
    };
    const card = (testid, name, value, extra = null) => h("div.figure", { testid },
      h("div.k", {}, name), h("div.v", {}, value), extra);
    return h("div", { testid: "report" },
      h("p.muted", { testid: "report-range" }, `${fmtFull(r.since)} – ${fmtFull(r.until)}`),
      r.alarms ? null : h("p.muted", {}, t("reports.none")),
      h("div.figures", {},
        card("report-alarms", t("reports.alarms"), r.alarms),
        card("report-answered", t("reports.answered"), r.answered),
        card("report-within60", t("reports.within60"), pct(r.within_60s),
          target(r.within_60s, r.target_within_60s)),
        card("report-within180", t("reports.within180"), pct(r.within_180s),
          target(r.within_180s, r.target_within_180s)),
        card("report-p50", t("reports.p50"), seconds(r.p50_s)),
        card("report-p90", t("reports.p90"), seconds(r.p90_s))));
  }
}
