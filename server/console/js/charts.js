// Small inline SVG charts: heart rate and SpO2 over 24 h, activity per hour, |a| around a fall.

import { h, now, s } from "./dom.js";
import { t } from "./i18n.js";

const W = 440;
const H = 130;
const PAD = { left: 30, right: 8, top: 8, bottom: 18 };
const HOUR = 3600 * 1000;
const GAP_MS = 15 * 60 * 1000; // readings further apart than this are not joined by a line

function figure(testid, title, body, legend = null) {
  return h("figure.chart", { testid }, h("figcaption", {}, h("span", {}, title), legend), body);
}

function empty(text) {
  return h("p.chart-empty", { testid: "chart-empty" }, text);
}

function linear(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** Time ticks at whole hours every ``every`` hours, labelled HH:00. */
function timeTicks(x, start, end, every, top, bottom) {
  const out = [];
  const first = new Date(start);
  first.setMinutes(0, 0, 0);
  for (let ms = first.getTime() + HOUR; ms < end; ms += HOUR) {
    const hour = new Date(ms).getHours();
    if (hour % every) continue;
    const px = x(ms);
    out.push(s("line", { x1: px, x2: px, y1: top, y2: bottom, class: "grid" }));
    out.push(s("text", { x: px, y: bottom + 12, class: "tick", "text-anchor": "middle" },
      `${String(hour).padStart(2, "0")}:00`));
  }
  return out;
}

function yAxis(y, values, left, right) {
  return values.flatMap((v) => [
    s("line", { x1: left, x2: right, y1: y(v), y2: y(v), class: "grid" }),
    s("text", { x: left - 4, y: y(v) + 3, class: "tick", "text-anchor": "end" }, v),
  ]);
}

/** Polylines through [x, y] points, broken where consecutive x are more than ``gap`` apart. */
function segments(points, gap, cls) {
  const lines = [];
  let run = [];
  const flush = () => {
    if (run.length === 1) {
      lines.push(s("circle", { cx: run[0][2], cy: run[0][3], r: 1.6, class: `${cls} dot` }));
    } else if (run.length > 1) {
      lines.push(s("polyline", { class: cls, points: run.map((p) => `${p[2]},${p[3]}`).join(" ") }));
    }
    run = [];
  };
  for (const p of points) {
    if (run.length && p[0] - run[run.length - 1][0] > gap) flush();
    run.push(p);
  }
  flush();
  return lines;
}

function panel({ points, top, height, domain, ticks, cls, x }) {
  const y = linear(domain[0], domain[1], top + height, top);
  const placed = points.map(([ts, v]) => [ts, v, x(ts).toFixed(1), y(v).toFixed(1)]);
  return [...yAxis(y, ticks, PAD.left, W - PAD.right), ...segments(placed, GAP_MS, cls)];
}

function niceDomain(values, lo, hi, pad) {
  const min = Math.min(lo, ...values.map((v) => v - pad));
  const max = Math.max(hi, ...values.map((v) => v + pad));
  return [Math.floor(min / 10) * 10, Math.ceil(max / 10) * 10];
}

/** Heart rate and SpO2 of the last 24 h; readings without skin contact are left out. */
export function vitalsChart(data) {
  const end = now();
  const start = end - 24 * HOUR;
  const worn = (data?.readings || []).filter((r) => r.contact !== false)
    .map((r) => ({ ...r, ms: Date.parse(r.ts) })).filter((r) => r.ms >= start)
    .sort((a, b) => a.ms - b.ms);
  const hr = worn.filter((r) => r.hr != null && r.hr > 0).map((r) => [r.ms, r.hr]);
  const spo2 = worn.filter((r) => r.spo2 != null && r.spo2 > 0).map((r) => [r.ms, r.spo2]);
  if (!hr.length && !spo2.length) return figure("chart-vitals", t("charts.vitals"), empty(t("charts.empty")));
  const height = H;
  const x = linear(start, end, PAD.left, W - PAD.right);
  const hrDomain = niceDomain(hr.map((p) => p[1]), 50, 110, 5);
  const spDomain = [Math.min(90, ...spo2.map((p) => Math.floor(p[1] - 1))), 100];
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", role: "img" },
    ...timeTicks(x, start, end, 6, PAD.top, height - PAD.bottom),
    ...panel({ points: hr, top: PAD.top, height: 58, domain: hrDomain,
      ticks: hrDomain, cls: "line hr", x }),
    ...panel({ points: spo2, top: PAD.top + 70, height: 34, domain: spDomain,
      ticks: spDomain, cls: "line spo2", x }));
  const last = (series) => (series.length ? series[series.length - 1][1] : "–");
  const legend = h("span.legend", {},
    h("span.key.hr", {}, `${t("charts.hr")} ${last(hr)}`),
    h("span.key.spo2", {}, `${t("charts.spo2")} ${last(spo2)}`));
  return figure("chart-vitals", t("charts.vitals"), svg, legend);
}

/** Activity counts summed per hour over the last 24 h (all of the resident's sensors). */
export function activityChart(data) {
  const end = now();
  const start = end - 24 * HOUR;
  const buckets = new Array(24).fill(0);
  let any = false;
  for (const m of data?.minutes || []) {
    const i = Math.floor((Date.parse(m.minute) - start) / HOUR);
    if (i >= 0 && i < 24) {
      buckets[i] += m.count;
      any = true;
    }
  }
  if (!any) return figure("chart-activity", t("charts.activity"), empty(t("charts.empty")));
  const height = H;
  const max = Math.max(...buckets, 1);
  const x = linear(start, end, PAD.left, W - PAD.right);
  const y = linear(0, max, height - PAD.bottom, PAD.top);
  const bw = (W - PAD.left - PAD.right) / 24;
  const bars = buckets.map((count, i) => s("rect", {
    class: "bar", x: (PAD.left + i * bw + 1).toFixed(1), width: (bw - 2).toFixed(1),
    y: y(count).toFixed(1), height: (height - PAD.bottom - y(count)).toFixed(1),
  }, s("title", {}, String(count))));
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", role: "img" },
    ...yAxis(y, [0, max], PAD.left, W - PAD.right),
    ...timeTicks(x, start, end, 6, PAD.top, height - PAD.bottom), ...bars);
  return figure("chart-activity", t("charts.activity"), svg);
}

/** |a| in g from 20 s before to 40 s after the fall, the fall's time marked. */
export function accChart(data) {
  const times = data?.t || [];
  if (!times.length) return figure("chart-acc", t("charts.acc"), empty(t("charts.acc_empty")));
  const height = H;
  const peak = Math.max(3, Math.ceil(Math.max(...data.g)));
  const x = linear(-20, 40, PAD.left, W - PAD.right);
  const y = linear(0, peak, height - PAD.bottom, PAD.top);
  const points = times.map((tt, i) => `${x(tt).toFixed(1)},${y(data.g[i]).toFixed(1)}`);
  const ticks = [-20, -10, 0, 10, 20, 30, 40].flatMap((sec) => [
    s("line", { x1: x(sec), x2: x(sec), y1: PAD.top, y2: height - PAD.bottom, class: "grid" }),
    s("text", { x: x(sec), y: height - PAD.bottom + 12, class: "tick", "text-anchor": "middle" },
      `${sec > 0 ? "+" : ""}${sec}s`),
  ]);
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", role: "img" },
    ...ticks, ...yAxis(y, [0, 1, peak], PAD.left, W - PAD.right),
    s("polyline", { class: "line acc", points: points.join(" ") }),
    s("line", { class: "marker", "data-testid": "fall-marker", x1: x(0), x2: x(0),
      y1: PAD.top, y2: height - PAD.bottom }),
    s("text", { class: "marker-label", x: x(0) + 3, y: PAD.top + 9 }, t("charts.fall_at")));
  return figure("chart-acc", t("charts.acc"), svg);
}

export function loadingChart(testid, title) {
  return figure(testid, title, h("p.chart-empty", {}, t("charts.loading")));
}
