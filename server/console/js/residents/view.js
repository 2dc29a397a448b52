// Residents (居民档案): search the directory (name, pinyin initials, phone, address, device id)
// and read a resident's page — card, contacts in call order, own limits beside the defaults,
// devices, open and past alerts, calls and notes, the history of every change. Supervisors and
// admins edit (the forms in forms.js); operators read and open a phone-in from here.
// Address: #/residents/<id>.

import { api as mainApi, ApiError } from "../api.js";
import { formDialog } from "../dialogs.js";
import { fmtDateTime, fmtFull, h, yearsSince } from "../dom.js";
import { label, t } from "../i18n.js";
import { awayText, phoneInDialog, PHONE_IN_ROLES } from "../phonein.js";
import { directoryApi as api } from "./api.js";
import { planCard, rulesDialog, tagChips } from "./care.js";
import { careCallsOf, residentCallsCard } from "../carecalls.js";
import { residentVisitsCard, visitsApi } from "../visits.js";
import { editContact, editHome, editLimits, editResident, editStatus, newResident } from "./forms.js";
import { consentCard } from "./consent.js";
import "./strings.js";

const EDITORS = ["supervisor", "admin"];
const GONE = new Set(["moved", "deceased"]);
const ERASED = "已删除";
const ACTIVE = new Set(["open", "claimed", "dispatched"]);

export class ResidentsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.vocab = null;
    this.reset();
  }

  reset() {
    this.rows = [];
    this.tags = new Set();
    this.counts = null;
    this.query = "";
    this.inactive = false;
    this.id = null;
    this.page = null;
    this.built = false;
    this.root.replaceChildren();
  }

  get editor() {
    return EDITORS.includes(this.ctx.me()?.role);
  }

  get staff() {
    return this.ctx.me()?.role !== "technician";
  }

  translate() {
    if (!this.built) return;
    this.build();
    this.renderList();
    this.renderPage();
  }

  async enter(path) {
    if (!this.built) this.build();
    if (!this.vocab) this.vocab = await api.vocabulary().catch(() => null);
    if (!this.rows.length) this.search();
    const id = Number(path) || null;
    if (id && id !== this.id) this.open(id);
  }

  build() {
    this.built = true;
    const search = h("input", { type: "search", name: "q", value: this.query, testid: "res-q",
      placeholder: t("res.search") });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { this.query = search.value.trim(); this.search(); }, 250);
    });
    const inactive = h("input", { type: "checkbox", checked: this.inactive,
      testid: "res-inactive", onchange: () => { this.inactive = inactive.checked; this.search(); } });
    this.chips = h("div.chips-host");
    this.list = h("ol.res-list", { testid: "res-list" });
    this.emptyEl = h("p.empty", { testid: "res-empty", hidden: true }, t("res.none"));
    this.pane = h("section.pane-right.res-page-host", { testid: "res-page-host" });
    this.root.replaceChildren(h("div.two-pane", {},
      h("aside.pane-left", {},
        h("form.filters", { onsubmit: (e) => { e.preventDefault(); this.query = search.value.trim(); this.search(); } },
          search,
          h("div.row", {}, h("label", {}, inactive, t("res.inactive")), h("span.grow"),
            h("button.small", { type: "button", testid: "res-care-rules",
              onclick: () => this.vocab && rulesDialog(this.ctx, this.vocab) }, t("care.rules")),
            this.editor ? h("button.small", { type: "button", testid: "res-new",
              onclick: () => this.create() }, t("res.new")) : null),
          this.chips),
        this.list, this.emptyEl),
      this.pane));
  }

  async search() {
    try {
      [this.rows, this.counts] = await Promise.all([
        api.search(this.query, this.inactive, [...this.tags]), api.tagCounts()]);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      return;
    }
    this.renderList();
  }

  renderChips() {
    this.chips.replaceChildren(tagChips(this.vocab, this.counts, this.tags, () => {
      this.renderChips();
      this.search();
    }));
  }

  renderList() {
    this.renderChips();
    this.list.replaceChildren(...this.rows.map((r) => h("li.res-row", {
      testid: "res-row", dataset: { residentId: r.id },
      class: r.id === this.id ? "selected" : "",
      onclick: () => this.ctx.go(`#/residents/${r.id}`) },
    h("div.r1", {}, h("b", {}, r.name), ...r.care_tags.map((tag) => h("span.tag", {}, label("tag", tag))),
      h("span.grow"), statusTag(r)),
    h("div.r2.muted", {}, r.address))));
    this.emptyEl.hidden = this.rows.length > 0;
  }

  async open(id) {
    this.id = id;
    this.renderList();
    this.pane.replaceChildren(h("p.empty", {}, t("detail.loading")));
    await this.reload();
  }

  async reload() {
    const id = this.id;
    try {
      const [resident, alerts, history, devices, plan, visits, calls, consents] = await Promise.all([
        api.resident(id), this.staff ? api.alerts(id) : null,
        this.staff ? api.history(id) : [], api.devices(id),
        this.staff ? api.carePlan(id) : null, this.staff ? visitsApi.ofResident(id) : null,
        this.staff ? careCallsOf(id) : null, this.staff ? api.consents(id) : null]);
      if (id !== this.id) return;
      this.page = { resident, alerts, history, devices, plan, visits, calls, consents };
    } catch (exc) {
      if (!(exc instanceof ApiError) || id !== this.id || exc.status === 401) return;
      this.page = null;
      this.pane.replaceChildren(h("p.empty", {}, exc.status === 404 ? t("detail.gone") : exc.explain()));
      return;
    }
    this.renderPage();
  }

  saved() {
    this.ctx.toast(t("res.saved"), "ok");
    this.reload();
    this.search();
  }

  create() {
    if (!this.vocab) return;
    api.regions().then((regions) => newResident(this.vocab, regions, (id) => {
      this.ctx.toast(t("res.saved"), "ok");
      this.search();
      this.ctx.go(`#/residents/${id}`);
    }));
  }

  renderPage() {
    if (!this.page) {
      if (this.pane && !this.id) this.pane.replaceChildren(h("p.empty.detail-empty", {}, t("res.pick")));
      return;
    }
    const { resident: r, alerts, history, devices, plan, visits, calls, consents } = this.page;
    const scroll = this.pane.querySelector(".detail-body")?.scrollTop ?? 0;
    this.pane.replaceChildren(h("article.detail.res-page", { testid: "res-page",
      dataset: { residentId: r.id } },
    this.head(r),
    h("div.detail-body", {}, h("div.detail-grid", {},
      h("div.col", {}, this.card(r), planCard(plan), r.contacts ? this.contacts(r) : null,
        r.vital_limits ? this.limits(r) : null,
        consents ? consentCard(r.id, consents, this.editor, () => this.saved()) : null),
      h("div.col", {}, alerts ? alertsCard(alerts.alerts, this.ctx) : null,
        alerts ? callsCard(alerts.calls) : null, residentVisitsCard(visits),
        residentCallsCard(calls),
        this.staff ? historyCard(history) : null,
        devicesCard(devices))))));
    this.pane.querySelector(".detail-body").scrollTop = scroll;
  }

  head(r) {
    const years = yearsSince(r.birth_date);
    const facts = [r.sex ? t(`resident.sex.${r.sex}`) : null,
      years !== null ? t("resident.age", { n: years }) : null].filter(Boolean).join(" · ");
    const act = (key, testid, fn, cls = "") => h(`button.act${cls}`, { testid, onclick: fn }, t(key));
    const vocab = this.vocab;
    return h("header.detail-head", {},
      h("div.title-row", {}, h("h2", { testid: "res-name" }, r.name),
        facts ? h("span.muted", {}, facts) : null,
        ...(r.care_tags || []).map((tag) => h("span.tag", {}, label("tag", tag))),
        statusTag(r, "res-status")),
      h("div.actions", {},
        this.editor && vocab ? [
          act("res.edit", "res-edit", () => editResident(r, vocab, () => this.saved())),
          act("res.status", "res-set-status", () => editStatus(r, vocab, () => this.saved())),
          r.home ? act("res.home", "res-edit-home", () => editHome(r, () => this.saved())) : null,
          r.vital_limits ? act("res.limits", "res-edit-limits",
            () => editLimits(r, vocab, () => this.saved())) : null] : null,
        PHONE_IN_ROLES.includes(this.ctx.me()?.role)
          ? act("res.phone_in", "res-phone-in", () => phoneInDialog(this.ctx, {
            id: r.id, name: r.name, address: r.home?.address, status: r.status,
            away_until: r.away_until }), ".primary") : null,
        this.ctx.me()?.role === "admin" ? [
          act("res.export", "res-export", () => this.exportResident(r)),
          GONE.has(r.status) && r.name !== ERASED
            ? act("res.erase", "res-erase", () => this.eraseResident(r), ".danger") : null] : null));
  }

  /** Admins: download everything held about the resident (logged on the server). */
  async exportResident(r) {
    try {
      const data = await mainApi.exportResident(r.id);
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const link = h("a", { href: URL.createObjectURL(blob), download: `resident-${r.id}.json` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      this.ctx.toast(t("res.exported"), "ok");
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
    }
  }

  /** Admins: erase a resident who moved away or died, after confirming with their name. */
  eraseResident(r) {
    formDialog({ testid: "erase-dialog", title: t("res.erase_title", { name: r.name }),
      submitLabel: t("res.erase"),
      body: h("div", {}, h("p", {}, t("res.erase_text")),
        h("label", {}, t("res.erase_confirm", { name: r.name }),
          h("input", { name: "confirm", required: true, autocomplete: "off", testid: "erase-confirm" }))),
      submit: async (form) => {
        if (form.elements.confirm.value.trim() !== r.name) throw new Error(t("res.erase_mismatch"));
        await mainApi.eraseResident(r.id);
        this.ctx.toast(t("res.erased"), "ok");
        this.reload();
        this.search();
      } });
  }

  card(r) {
    const home = r.home || {};
    const place = [home.community, home.street, home.district].filter(Boolean).join(" · ");
    const list = (values) => (values?.length ? values.join("、") : t("resident.none_listed"));
    return h("section.card", { testid: "res-card" }, h("h3", {}, t("res.card")),
      h("dl.facts", {},
        fact(t("resident.address"), [home.address, place ? h("span.muted", {}, ` （${place}）`) : null],
          "res-address"),
        r.phone !== undefined ? fact(t("resident.phone"), r.phone || "–", "res-phone") : null,
        r.conditions ? fact(t("resident.conditions"), list(r.conditions), "res-conditions", "warn") : null,
        r.medications ? fact(t("resident.medications"), list(r.medications), "res-medications") : null,
        r.allergies ? fact(t("res.allergies"), list(r.allergies), "res-allergies", "warn") : null,
        r.languages ? fact(t("resident.languages"), list(r.languages)) : null,
        fact(t("resident.home_notes"), home.notes || "–", "res-notes"),
        fact(t("res.keysafe"), t(home.has_key_safe ? "res.keysafe_set" : "res.keysafe_none"))));
  }

  contacts(r) {
    const active = r.contacts.filter((c) => c.active);
    const move = (i, step) => {
      const ids = active.map((c) => c.id);
      [ids[i], ids[i + step]] = [ids[i + step], ids[i]];
      api.reorder(r.id, ids).then(() => this.saved(),
        (exc) => this.ctx.toast(exc.explain(), "error"));
    };
    const off = (c) => {
      if (!window.confirm(t("res.contact_off_confirm", { name: c.name }))) return;
      api.deactivateContact(c.id).then(() => this.saved(),
        (exc) => this.ctx.toast(exc.explain(), "error"));
    };
    const rows = r.contacts.map((c) => {
      const i = active.indexOf(c);
      return h(`li${c.active ? "" : ".off"}`, { testid: "res-contact",
        dataset: { contactId: c.id, order: c.call_order ?? "" } },
      h("span.order", {}, c.call_order ?? "–"),
      h("div.who", {}, h("span.name", {}, c.name), c.relation ? h("span.muted", {}, ` ${c.relation}`) : null,
        c.has_key ? h("span.tag.key", {}, t("res.has_key")) : null,
        c.active ? null : h("span.tag", {}, t("res.inactive_contact")),
        c.availability ? h("div.muted.small", {}, c.availability) : null),
      h("div.phones.mono", { testid: "res-contact-phones" }, c.phones.map((p) => h("div", {}, p))),
      this.editor && c.active ? h("span.buttons", {},
        h("button.small", { testid: "res-contact-up", disabled: i === 0, title: t("res.up"),
          onclick: () => move(i, -1) }, "↑"),
        h("button.small", { testid: "res-contact-down", disabled: i === active.length - 1,
          title: t("res.down"), onclick: () => move(i, 1) }, "↓"),
        h("button.small", { testid: "res-contact-edit",
          onclick: () => editContact(r, c, () => this.saved()) }, t("res.contact_edit")),
        h("button.small", { testid: "res-contact-off", onclick: () => off(c) }, t("res.contact_off")))
        : null);
    });
    return h("section.card.res-contacts", { testid: "res-contacts" }, h("h3", {}, t("res.contacts")),
      rows.length ? h("ol", {}, rows) : h("p.muted", {}, t("contacts.none")),
      this.editor ? h("div.row", {}, h("button.small", { testid: "res-contact-add",
        onclick: () => editContact(r, null, () => this.saved()) }, t("res.contact_add"))) : null);
  }

  limits(r) {
    const d = this.vocab?.defaults;
    if (!d) return null;
    const rows = (group, own, defaults) => Object.entries(defaults)
      .filter(([name]) => own?.[name] !== undefined || ["hr_low", "hr_high", "spo2_low",
        "continuous_h", "morning_start_h", "morning_end_h", "day_gap_h"].includes(name))
      .map(([name, value]) => h("tr", { dataset: { limit: name } }, h("td", {}, t(`lim.${name}`)),
        h(`td.own${own?.[name] !== undefined ? ".set" : ""}`, { testid: `res-limit-${name}` },
          own?.[name] ?? "–"),
        h("td.muted", {}, value)));
    return h("section.card", { testid: "res-limits" }, h("h3", {}, t("res.limits_title")),
      h("table.limits", {}, h("tr", {}, h("th", {}, t("res.limit")), h("th", {}, t("res.own")),
        h("th", {}, t("res.default"))),
      rows("vital", r.vital_limits, d.vital), rows("inactivity", r.inactivity_rules, d.inactivity)));
  }
}

function fact(name, value, testid = null, cls = "") {
  return [h("dt", {}, name), h(`dd${cls ? `.${cls}` : ""}`, { testid }, value ?? "")];
}

/** The resident's status as a tag when they are not simply at home. */
export function statusTag(r, testid = "res-status-tag") {
  const text = awayText(r);
  return text ? h(`span.tag.status-${r.status}`, { testid }, text) : null;
}

function alertsCard(alerts, ctx) {
  return h("section.card", { testid: "res-alerts" }, h("h3", {}, t("res.alerts")),
    alerts.length ? h("ul.res-alerts", {}, alerts.map((a) => h("li", { testid: "res-alert",
      dataset: { alertId: a.id, state: a.state } },
    h(`span.badge.prio-${a.priority}`, {}, label("priority", a.priority)),
    h("span", {}, label("type", a.type)), h(`span.state.state-${a.state}`, {}, label("state", a.state)),
    a.outcome ? h("span.muted", {}, label("outcome", a.outcome)) : null,
    h("span.grow"), h("time.muted", {}, fmtDateTime(a.opened_at)),
    ACTIVE.has(a.state) ? h("button.small", { onclick: () => ctx.go(`#/queue/${a.id}`) }, "→")
      : null))) : h("p.muted", {}, t("res.alerts_none")));
}

function callsCard(calls) {
  return h("section.card", { testid: "res-calls" }, h("h3", {}, t("res.calls")),
    calls.length ? h("ul.res-calls", {}, calls.map((c) => h("li", {},
      h("time.muted", {}, fmtDateTime(c.ts)), " ", h("b", {}, c.actor), " ",
      label("action", c.action),
      c.action === "call" && c.data?.outcome ? ` · ${label("call", c.data.outcome)} ${c.data.number || ""}` : "",
      c.note ? h("div.note", {}, c.note) : null))) : h("p.muted", {}, t("res.calls_none")));
}

function show(value, field = "") {
  if (field === "status" && value) return label("status", value);
  if (field === "care_tags" && Array.isArray(value) && value.length) {
    return value.map((tag) => label("tag", tag)).join("、");
  }
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) {
    return t("hist.empty");
  }
  if (Array.isArray(value)) return value.join("、");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${t(`lim.${k}`)} ${v}`).join("，");
  if (typeof value === "boolean") return value ? "✓" : "✗";
  if (/^\d{4}-\d\d-\d\dT/.test(value)) return fmtFull(value);
  return String(value);
}

function historyCard(entries) {
  return h("section.card", { testid: "res-history" }, h("h3", {}, t("res.history")),
    entries.length ? h("ol.res-history", {}, entries.map((e) => h("li", { testid: "res-history-item",
      dataset: { action: e.action, entity: e.entity } },
    h("div.when", {}, h("time.muted", {}, fmtDateTime(e.ts)), " ", h("b", {}, e.actor), " ",
      t(`hist.entity.${e.entity}`), e.changes.contact ? ` ${e.changes.contact[1]}` : "", " · ",
      t(`hist.${e.action}`), e.note ? h("span.muted", {}, ` — ${e.note}`) : null),
    e.action === "create" ? null : h("table.changes", {}, Object.entries(e.changes)
      .filter(([field]) => field !== "contact")
      .map(([field, [before, after]]) => h("tr", { testid: "res-change", dataset: { field } },
        h("td.k", {}, t(`field.${field}`)),
        h("td.before", {}, show(before, field)), h("td.arrow", {}, "→"),
        h("td.after", {}, show(after, field))))))))
      : h("p.muted", {}, t("res.history_none")));
}

function devicesCard(devices) {
  return h("section.card", { testid: "res-devices" }, h("h3", {}, t("res.devices")),
    devices.length ? h("table.devices", {}, devices.map((d) => h("tr", {},
      h("td", {}, d.label || d.model), h("td.mono", {}, d.uid),
      h("td", {}, d.battery_pct != null ? `${t("devices.battery")} ${d.battery_pct}%` : ""),
      h("td.muted", {}, d.last_seen ? fmtDateTime(d.last_seen) : ""))))
      : h("p.muted", {}, t("res.devices_none")));
}
