// Technician view: gateways and their broker identity. Register a gateway for a home (its claim
// code is shown once, with the command that uses it on the box), issue a new code, rotate the
// gateway's credentials, revoke them (a stolen or replaced box: locked out at once). Each
// gateway's devices open in a panel below (js/devices.js).

import { ApiError, request } from "./api.js";
import { DevicePanel } from "./devices.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, t } from "./i18n.js";

extend({
  "zh-CN": {
    "tab.provisioning": "网关接入",
    "prov.title": "网关接入",
    "prov.intro": "为住户登记网关，得到一次性接入码；在网关上运行下面的命令，网关即以自己的身份接入消息服务器。网关被盗或更换时，吊销它的身份：连接立即断开，旧凭据不再可用。",
    "prov.register": "登记网关",
    "prov.gateway_id": "网关编号",
    "prov.gateway_hint": "见机身标签，如 gw-home-0001",
    "prov.home": "住户",
    "prov.choose_home": "选择住户…",
    "prov.submit": "登记并生成接入码",
    "prov.code_for": "{gateway} 的接入码",
    "prov.code_until": "有效期至 {time}，只能使用一次；关闭后不再显示。",
    "prov.run": "在网关上运行：",
    "prov.dismiss": "已记下",
    "prov.none": "还没有网关。",
    "prov.col.gateway": "网关",
    "prov.col.home": "住户",
    "prov.col.online": "在线",
    "prov.col.access": "接入身份",
    "prov.col.devices": "设备",
    "prov.col.actions": "操作",
    "prov.online.online": "在线",
    "prov.online.offline": "离线",
    "prov.online.unknown": "未连接过",
    "prov.access.none": "未登记",
    "prov.access.unclaimed": "待接入",
    "prov.access.active": "已接入",
    "prov.access.rotating": "更换凭据中",
    "prov.access.revoked": "已吊销",
    "prov.code_pending": "接入码有效至 {time}",
    "prov.as": "身份 {user}",
    "prov.new_code": "新接入码",
    "prov.rotate": "更换凭据",
    "prov.revoke": "吊销",
    "prov.confirm_revoke": "确认吊销？",
    "prov.rotating": "已发送新凭据，网关以新身份上线后旧凭据即作废。",
    "prov.revoked": "{gateway} 已吊销：连接已断开，旧凭据不可再用。",
    "prov.registered": "{gateway} 已登记。",
    "prov.no_devices": "—",
    "prov.last_seen": "最后 {time}",
    "prov.devices": "设备",
  },
  en: {
    "tab.provisioning": "Gateway access",
    "prov.title": "Gateway access",
    "prov.intro": "Register a gateway for a home to get a one-time claim code; run the command below on the gateway and it joins the broker under its own identity. When a box is stolen or replaced, revoke it: its connection is cut at once and its old credentials stop working.",
    "prov.register": "Register a gateway",
    "prov.gateway_id": "Gateway id",
    "prov.gateway_hint": "on the box's label, e.g. gw-home-0001",
    "prov.home": "Home",
    "prov.choose_home": "Choose a home…",
    "prov.submit": "Register and get a claim code",
    "prov.code_for": "Claim code of {gateway}",
    "prov.code_until": "Good until {time}, once; not shown again after you close this.",
    "prov.run": "On the gateway, run:",
    "prov.dismiss": "Noted",
    "prov.none": "No gateways yet.",
    "prov.col.gateway": "Gateway",
    "prov.col.home": "Home",
    "prov.col.online": "Online",
    "prov.col.access": "Broker identity",
    "prov.col.devices": "Devices",
    "prov.col.actions": "Actions",
    "prov.online.online": "online",
    "prov.online.offline": "offline",
    "prov.online.unknown": "never connected",
    "prov.access.none": "not registered",
    "prov.access.unclaimed": "waiting for its claim",
    "prov.access.active": "active",
    "prov.access.rotating": "rotating",
    "prov.access.revoked": "revoked",
    "prov.code_pending": "claim code good until {time}",
    "prov.as": "as {user}",
    "prov.new_code": "New claim code",
    "prov.rotate": "Rotate",
    "prov.revoke": "Revoke",
    "prov.confirm_revoke": "Really revoke?",
    "prov.rotating": "New credentials sent; the old ones stop working once the gateway is online with the new.",
    "prov.revoked": "{gateway} revoked: its connection is cut and its credentials no longer work.",
    "prov.registered": "{gateway} registered.",
    "prov.no_devices": "—",
    "prov.last_seen": "last {time}",
    "prov.devices": "Devices",
  },
});

const REFRESH_MS = 3000;

const enrolApi = {
  gateways: () => request("GET", "/api/enrol/gateways"),
  homes: () => request("GET", "/api/enrol/homes"),
  register: (gatewayId, homeId) =>
    request("POST", "/api/enrol/gateways", { gateway_id: gatewayId, home_id: homeId }),
  newCode: (id) => request("POST", `/api/enrol/gateways/${encodeURIComponent(id)}/claim-code`, {}),
  rotate: (id) => request("POST", `/api/enrol/gateways/${encodeURIComponent(id)}/rotate`, {}),
  revoke: (id) => request("POST", `/api/enrol/gateways/${encodeURIComponent(id)}/revoke`, {}),
};

export class ProvisioningView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
    setInterval(() => { if (!this.root.hidden && this.ctx.me()) this.load(); }, REFRESH_MS);
  }

  reset() {
    this.gateways = null;
    this.homeChoices = [];
    this.code = null; // { gateway, code, expires_at }: shown until dismissed
    this.confirming = null; // gateway whose revoke awaits a second click
    this.error = "";
    this.parts = null; // the page's parts: built once, so a refresh keeps what is being typed
    this.panel = null; // the open gateway's devices (DevicePanel)
  }

  translate() {
    this.parts = null;
    this.render();
  }

  enter() {
    this.render();
    this.load();
    enrolApi.homes().then((rows) => { this.homeChoices = rows; this.renderHomes(); })
      .catch((exc) => this.failed(exc));
  }

  async load() {
    if (this.panel) this.panel.load();
    try {
      this.gateways = await enrolApi.gateways();
      this.error = "";
    } catch (exc) {
      this.failed(exc);
      return;
    }
    this.render();
  }

  failed(exc) {
    if (!(exc instanceof ApiError) || exc.status === 401) return;
    this.error = exc.explain();
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

  register(event) {
    event.preventDefault();
    const form = event.target;
    const gatewayId = form.elements.gateway.value.trim();
    const homeId = Number(form.elements.home.value);
    this.act(() => enrolApi.register(gatewayId, homeId), (r) => {
      this.code = { gateway: r.gateway.gateway_id, code: r.claim_code, expires_at: r.expires_at };
      form.reset();
      this.ctx.toast(t("prov.registered", { gateway: r.gateway.gateway_id }), "ok");
    });
  }

  render() {
    if (!this.parts) {
      this.parts = { form: this.form(), code: h("div"), error: h("div"), table: h("div"),
        panel: h("div") };
      this.root.replaceChildren(h("h2", {}, t("prov.title")), h("p.muted.intro", {},
        t("prov.intro")), this.parts.form, this.parts.code, this.parts.error, this.parts.table,
      this.parts.panel);
      if (this.panel) this.panel.render();
      this.renderHomes();
    }
    const show = (holder, child) => holder.replaceChildren(...(child ? [child] : []));
    show(this.parts.code, this.codeBox());
    show(this.parts.error, this.error ? h("p.error", { testid: "prov-error" }, this.error) : null);
    show(this.parts.table, this.table());
    show(this.parts.panel, this.panel ? this.panel.el : null);
  }

  openDevices(id) {
    this.panel = new DevicePanel(id, this.ctx, () => { this.panel = null; this.render(); });
    this.render();
    this.panel.load().then(() => this.panel?.el.scrollIntoView({ block: "nearest" }));
  }

  renderHomes() {
    const select = this.parts?.form.elements.home;
    if (!select) return;
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "" }, t("prov.choose_home")),
      ...this.homeChoices.map((home) => h("option", { value: String(home.id) },
        `${home.address} · ${home.region}${home.gateways.length ? ` (${home.gateways.join(", ")})` : ""}`)));
    select.value = chosen;
  }

  form() {
    return h("form.prov-form", { testid: "prov-register", onsubmit: (e) => this.register(e) },
      h("h3", {}, t("prov.register")),
      h("label", {}, t("prov.gateway_id"),
        h("input.mono", { name: "gateway", required: true, pattern: "[a-z0-9][a-z0-9\\-]{2,31}",
          placeholder: t("prov.gateway_hint"), testid: "prov-gateway-id", autocomplete: "off" })),
      h("label", {}, t("prov.home"),
        h("select", { name: "home", required: true, testid: "prov-home" })),
      h("button.primary", { type: "submit", testid: "prov-submit" }, t("prov.submit")));
  }

  codeBox() {
    const c = this.code;
    if (!c) return null;
    const command = `pinganling gateway provision --server ${window.location.origin} --code ${c.code}`;
    return h("div.claim", { testid: "claim-box" },
      h("div.claim-head", {}, t("prov.code_for", { gateway: c.gateway })),
      h("div.claim-code.mono", { testid: "claim-code" }, c.code),
      h("p.small", {}, t("prov.code_until", { time: fmtDateTime(c.expires_at) })),
      h("p.small", {}, t("prov.run")),
      h("pre.command.mono", { testid: "claim-command" }, command),
      h("button", { onclick: () => { this.code = null; this.render(); } }, t("prov.dismiss")));
  }

  table() {
    if (this.gateways === null) return h("p.muted", {}, t("detail.loading"));
    if (!this.gateways.length) return h("p.muted", {}, t("prov.none"));
    const head = ["gateway", "home", "online", "access", "devices", "actions"]
      .map((c) => h("th", {}, t(`prov.col.${c}`)));
    return h("table.prov", { testid: "prov-table" }, h("thead", {}, h("tr", {}, ...head)),
      h("tbody", {}, ...this.gateways.map((g) => this.row(g))));
  }

  row(g) {
    const online = h(`span.online.is-${g.online}`, { testid: "prov-online" },
      t(`prov.online.${g.online}`));
    const seen = g.last_seen ? h("div.small.muted", {}, t("prov.last_seen",
      { time: fmtDateTime(g.last_seen) })) : null;
    const access = [h(`span.access.is-${g.access}`, { testid: "prov-access" },
      t(`prov.access.${g.access}`))];
    if (g.username) access.push(h("div.small.mono", {}, t("prov.as", { user: g.username })));
    if (g.claim_expires_at) {
      access.push(h("div.small.muted", {}, t("prov.code_pending",
        { time: fmtDateTime(g.claim_expires_at) })));
    }
    const devices = (g.devices || []).map((d) => h("div.small.mono", { testid: "prov-device" },
      d.device + (d.last_seen ? ` · ${fmtDateTime(new Date(d.last_seen * 1000).toISOString())}` : "")));
    return h("tr", { testid: `prov-row-${g.gateway_id}`, dataset: { access: g.access, online: g.online } },
      h("td.mono", {}, g.gateway_id),
      h("td", {}, g.address || "—"),
      h("td", {}, online, seen),
      h("td", {}, ...access),
      h("td", {}, ...(devices.length ? devices : [t("prov.no_devices")])),
      h("td", {}, h("div.prov-actions", {}, ...this.actions(g))));
  }

  actions(g) {
    const id = g.gateway_id;
    if (g.access === "none") { // in the directory, without a broker identity yet
      return [h("button.small", { testid: "prov-prefill", onclick: () => {
        const form = this.parts.form;
        form.elements.gateway.value = id;
        if (g.home_id) form.elements.home.value = String(g.home_id);
        form.elements.gateway.focus();
      } }, t("prov.register"))];
    }
    const buttons = [h("button.small.primary", { testid: "prov-devices",
      onclick: () => this.openDevices(id) }, t("prov.devices"))];
    buttons.push(h("button.small", { testid: "prov-new-code", onclick: () => this.act(
      () => enrolApi.newCode(id),
      (r) => { this.code = { gateway: id, code: r.claim_code, expires_at: r.expires_at }; }) },
    t("prov.new_code")));
    if (g.access === "active" || g.access === "rotating") {
      buttons.push(h("button.small", { testid: "prov-rotate", onclick: () => this.act(
        () => enrolApi.rotate(id), () => this.ctx.toast(t("prov.rotating"), "info")) },
      t("prov.rotate")));
    }
    if (g.access !== "revoked") {
      const confirming = this.confirming === id;
      buttons.push(h(`button.small.danger${confirming ? ".confirm" : ""}`, {
        testid: "prov-revoke",
        onclick: () => {
          if (!confirming) {
            this.confirming = id;
            this.render();
            setTimeout(() => { if (this.confirming === id) { this.confirming = null; this.render(); } }, 5000);
            return;
          }
          this.confirming = null;
          this.act(() => enrolApi.revoke(id),
            () => this.ctx.toast(t("prov.revoked", { gateway: id }), "ok"));
        },
      }, t(confirming ? "prov.confirm_revoke" : "prov.revoke")));
    }
    return buttons;
  }
}
