// A gateway's devices, the server's list (opened from the gateway access view): pair, relabel,
// replace and unpair — each a new config revision the gateway applies ("pending" until it
// reports it did) — the pairing window, and the devices it hears but has not paired, each
// paired with one click.

import { ApiError, request } from "./api.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, t } from "./i18n.js";

extend({
  "zh-CN": {
    "dev.title": "{gateway} 的设备",
    "dev.close": "关闭",
    "dev.config.none": "服务器尚未下发配置",
    "dev.config.unsent": "未送达消息服务器",
    "dev.config.pending": "待网关生效",
    "dev.config.applied": "网关已生效",
    "dev.revisions": "配置版本 {desired}，网关已生效 {applied}",
    "dev.publish": "重新下发",
    "dev.window.open": "开启配对窗口（120 秒）",
    "dev.window.close": "关闭配对窗口",
    "dev.window.until": "配对窗口开启至 {time}：请触发设备（按键、拉绳、开门或走动）",
    "dev.window.closed": "配对窗口未开启",
    "dev.paired": "已配对设备",
    "dev.none": "尚无配对设备。",
    "dev.col.device": "设备",
    "dev.col.model": "型号",
    "dev.col.label": "位置 / 名称",
    "dev.col.health": "状态",
    "dev.col.actions": "操作",
    "dev.relabel": "改名",
    "dev.replace": "更换",
    "dev.replace_uid": "新设备编号",
    "dev.unpair": "解除配对",
    "dev.confirm_unpair": "确认解除？",
    "dev.heard": "听到但未配对的设备",
    "dev.heard_none": "暂未听到未配对的设备。",
    "dev.in_window": "窗口内",
    "dev.earlier": "窗口外",
    "dev.frames": "{n} 帧",
    "dev.pair": "配对",
    "dev.pair_manual": "按编号配对",
    "dev.uid": "设备编号",
    "dev.silent": "失联",
    "dev.former": "已解除 / 已更换",
    "dev.replaced_by": "由 {uid} 替换",
    "dev.changed": "已下发配置版本 {rev}。",
    "dev.not_sent": "配置版本 {rev} 未送达消息服务器，请稍后重新下发。",
  },
  en: {
    "dev.title": "Devices of {gateway}",
    "dev.close": "Close",
    "dev.config.none": "not configured by the server yet",
    "dev.config.unsent": "not sent to the broker",
    "dev.config.pending": "pending",
    "dev.config.applied": "applied",
    "dev.revisions": "config revision {desired}, applied by the gateway {applied}",
    "dev.publish": "Send again",
    "dev.window.open": "Open pairing window (120 s)",
    "dev.window.close": "Close pairing window",
    "dev.window.until": "Pairing window open until {time}: trigger the device (press, pull, open, walk by)",
    "dev.window.closed": "Pairing window closed",
    "dev.paired": "Paired devices",
    "dev.none": "No paired devices yet.",
    "dev.col.device": "Device",
    "dev.col.model": "Model",
    "dev.col.label": "Place / name",
    "dev.col.health": "Health",
    "dev.col.actions": "Actions",
    "dev.relabel": "Rename",
    "dev.replace": "Replace",
    "dev.replace_uid": "new device uid",
    "dev.unpair": "Unpair",
    "dev.confirm_unpair": "Really unpair?",
    "dev.heard": "Heard, not paired",
    "dev.heard_none": "Nothing unpaired heard yet.",
    "dev.in_window": "in window",
    "dev.earlier": "outside window",
    "dev.frames": "{n} frames",
    "dev.pair": "Pair",
    "dev.pair_manual": "Pair by uid",
    "dev.uid": "device uid",
    "dev.silent": "silent",
    "dev.former": "Unpaired / replaced",
    "dev.replaced_by": "replaced by {uid}",
    "dev.changed": "Config revision {rev} sent.",
    "dev.not_sent": "Config revision {rev} did not reach the broker; send it again shortly.",
  },
});

const path = (id, action = "") =>
  `/api/gateway-devices/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;

export const devicesApi = {
  get: (id) => request("GET", path(id)),
  change: (id, action, body) => request("POST", path(id, action), body),
  window: (id, seconds) => request("POST", path(id, "window"), { seconds }),
};

const fromEpoch = (s) => new Date(s * 1000).toISOString();

export class DevicePanel {
  /** ``ctx``: the console's (toast); ``onClose``: the view forgets the panel. */
  constructor(gatewayId, ctx, onClose) {
    this.gatewayId = gatewayId;
    this.ctx = ctx;
    this.onClose = onClose;
    this.data = null;
    this.confirming = null; // uid whose unpair awaits a second click
    this.el = h("section.dev-panel", { testid: "dev-panel", dataset: { gateway: gatewayId } });
  }

  async load() {
    try {
      this.data = await devicesApi.get(this.gatewayId);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      return;
    }
    const typing = this.el.contains(document.activeElement)
      && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (!typing) this.render();
  }

  async act(fn) {
    try {
      const r = await fn();
      if (r && r.rev !== undefined) {
        this.ctx.toast(t(r.published ? "dev.changed" : "dev.not_sent", { rev: r.rev }),
          r.published ? "ok" : "error");
      }
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
    }
    this.data = await devicesApi.get(this.gatewayId).catch(() => this.data);
    this.render();
  }

  change(action, body) {
    return this.act(() => devicesApi.change(this.gatewayId, action, body));
  }

  render() {
    const d = this.data;
    if (!d) return;
    this.el.dataset.config = d.config;
    this.el.replaceChildren(
      h("div.dev-head", {},
        h("h3", {}, t("dev.title", { gateway: d.gateway_id })),
        h(`span.dev-config.is-${d.config}`, { testid: "dev-config" }, t(`dev.config.${d.config}`)),
        h("span.small.muted", { testid: "dev-revisions" },
          t("dev.revisions", { desired: d.desired_rev, applied: d.applied_rev })),
        d.config === "unsent" ? h("button.small", { testid: "dev-publish",
          onclick: () => this.act(() => devicesApi.change(this.gatewayId, "publish", {})) },
        t("dev.publish")) : null,
        h("button.small", { onclick: () => this.onClose() }, t("dev.close"))),
      this.windowBar(d), this.heardTable(d), this.pairedTable(d), this.manualPair(d),
      ...[this.former(d)].filter(Boolean));
  }

  windowBar(d) {
    const open = d.pairing_open;
    return h("div.dev-window", { testid: "dev-window-bar", dataset: { open: String(open) } },
      h("span", { testid: "dev-window-state" }, open
        ? t("dev.window.until", { time: fmtDateTime(d.pairing_until) }) : t("dev.window.closed")),
      h(`button.small${open ? "" : ".primary"}`, { testid: "dev-window",
        onclick: () => this.act(() => devicesApi.window(this.gatewayId, open ? 0 : 120)) },
      t(open ? "dev.window.close" : "dev.window.open")));
  }

  modelSelect(chosen, testid) {
    return h("select", { testid },
      ...this.data.models.map((m) => h("option", { value: m.id, selected: m.id === chosen },
        `${m.id} · ${m.name}`)));
  }

  heardTable(d) {
    const rows = d.heard.map((x) => {
      const model = this.modelSelect(x.model || "PB-433", "heard-model");
      const label = h("input", { testid: "heard-label", placeholder: t("dev.col.label") });
      return h("tr", { testid: `heard-row-${x.device}`, dataset: { inWindow: String(x.in_window) } },
        h("td.mono", {}, x.device),
        h("td", {}, h(`span.dev-mark.is-${x.in_window ? "window" : "earlier"}`,
          { testid: "heard-mark" }, t(x.in_window ? "dev.in_window" : "dev.earlier"))),
        h("td", {}, model),
        h("td.small", {}, `${x.rssi ?? "—"} dBm · ${x.battery_mv ? `${x.battery_mv} mV` : "—"} · `
          + `${t("dev.frames", { n: x.frames })} · ${fmtDateTime(fromEpoch(x.last_seen))}`),
        h("td", {}, label),
        h("td", {}, h("button.small.primary", { testid: "heard-pair", onclick: () => this.change(
          "pair", { device: x.device, model: model.value, label: label.value.trim() }) },
        t("dev.pair"))));
    });
    return h("div.dev-block", {}, h("h4", {}, t("dev.heard")), rows.length
      ? h("table.prov.dev-heard", { testid: "dev-heard" }, h("tbody", {}, ...rows))
      : h("p.muted.small", {}, t("dev.heard_none")));
  }

  pairedTable(d) {
    if (!d.devices.length) {
      return h("div.dev-block", {}, h("h4", {}, t("dev.paired")), h("p.muted.small", {}, t("dev.none")));
    }
    const head = ["device", "model", "label", "health", "actions"]
      .map((c) => h("th", {}, t(`dev.col.${c}`)));
    return h("div.dev-block", {}, h("h4", {}, t("dev.paired")),
      h("table.prov", { testid: "dev-paired" }, h("thead", {}, h("tr", {}, ...head)),
        h("tbody", {}, ...d.devices.map((x) => this.pairedRow(x)))));
  }

  pairedRow(x) {
    const label = h("input", { testid: "dev-label", value: x.label });
    const newUid = h("input.mono", { testid: "dev-replace-uid", placeholder: t("dev.replace_uid") });
    const confirming = this.confirming === x.uid;
    const health = [x.last_seen ? fmtDateTime(x.last_seen) : "—",
      x.battery_pct !== null ? `${x.battery_pct}%` : null,
      x.rssi !== null ? `${x.rssi} dBm` : null].filter(Boolean).join(" · ");
    return h("tr", { testid: `dev-row-${x.uid}` },
      h("td.mono", {}, x.uid),
      h("td", {}, x.model),
      h("td", {}, h("div.dev-inline", {}, label, h("button.small", { testid: "dev-relabel",
        onclick: () => this.change("relabel", { device: x.uid, label: label.value.trim() }) },
      t("dev.relabel")))),
      h("td.small", {}, health, x.silent_since ? h("span.dev-silent", {}, ` ${t("dev.silent")}`) : null),
      h("td", {}, h("div.dev-inline", {}, newUid,
        h("button.small", { testid: "dev-replace", onclick: () => this.change("replace",
          { device: x.uid, new_device: newUid.value.trim() }) }, t("dev.replace")),
        h(`button.small.danger${confirming ? ".confirm" : ""}`, { testid: "dev-unpair",
          onclick: () => {
            if (!confirming) {
              this.confirming = x.uid;
              this.render();
              return;
            }
            this.confirming = null;
            this.change("unpair", { device: x.uid });
          } }, t(confirming ? "dev.confirm_unpair" : "dev.unpair")))));
  }

  manualPair(d) {
    const uid = h("input.mono", { testid: "dev-pair-uid", placeholder: t("dev.uid") });
    const model = this.modelSelect(d.models[0]?.id, "dev-pair-model");
    const label = h("input", { testid: "dev-pair-label", placeholder: t("dev.col.label") });
    return h("form.dev-pair", { testid: "dev-pair-form", onsubmit: (e) => {
      e.preventDefault();
      this.change("pair", { device: uid.value.trim(), model: model.value,
        label: label.value.trim() });
    } }, h("h4", {}, t("dev.pair_manual")), uid, model, label,
    h("button.small", { type: "submit", testid: "dev-pair-submit" }, t("dev.pair")));
  }

  former(d) {
    if (!d.former.length) return null;
    return h("div.dev-block", {}, h("h4", {}, t("dev.former")),
      ...d.former.map((x) => h("div.small.muted", { testid: `dev-former-${x.uid}` },
        `${x.uid} · ${x.model} · ${x.label || "—"} · ${fmtDateTime(x.unpaired_at)}`
        + (x.replaced_by ? ` · ${t("dev.replaced_by", { uid: x.replaced_by })}` : ""))));
  }
}
