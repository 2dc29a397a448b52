// One alert in full (right-hand pane): resident card, contacts, key safe, timeline, dispatches,
// charts, and the operator's actions. Used by the queue and by history.

import { api, ApiError } from "./api.js";
import { accChart, activityChart, loadingChart, vitalsChart } from "./charts.js";
import { callDialog, dispatchDialog, formDialog, noteDialog, resolveDialog } from "./dialogs.js";
import { fmtDateTime, fmtTime, h, yearsSince } from "./dom.js";
import { label, t } from "./i18n.js";
import { awayText } from "./phonein.js";
import { isAnswer, timelineLabel, wearerNote, wearerTag } from "./wearer.js";

const WORKING = new Set(["claimed", "dispatched"]);
const OVERSEE = new Set(["supervisor", "admin"]);

export function priorityBadge(priority) {
  return h(`span.badge.prio-${priority}`, { testid: "priority" }, label("priority", priority));
}

/** A live age counter (main.js ticks every [data-since] once a second). */
export function ageCounter(alert) {
  return h("span.age", { testid: "age", dataset: { since: alert.opened_at,
    unclaimed: alert.state === "open" ? "1" : "0" } });
}

export class AlertView {
  /** host: the pane element; ctx: {me(), toast(text, kind), merged(summary), tick()}. */
  constructor(host, ctx) {
    this.host = host;
    this.ctx = ctx;
    this.id = null;
    this.detail = null;
    this.charts = null;
    this.keySafe = null;
    this.overridden = null;
    this.error = "";
    this.loading = null;
    this.stale = false;
    this.renderEmpty();
  }

  renderEmpty() {
    this.host.replaceChildren(h("p.empty.detail-empty", { testid: "detail-empty" }, t("detail.none")));
  }

  /** Show alert ``id`` (null: nothing). */
  async show(id) {
    if (id === this.id && this.detail) return;
    this.id = id;
    this.detail = null;
    this.charts = null;
    this.keySafe = null;
    this.overridden = null;
    this.error = "";
    if (id === null) {
      this.renderEmpty();
      return;
    }
    this.host.replaceChildren(h("p.empty", {}, t("detail.loading")));
    await this.refresh();
  }

  /** Re-read the alert (coalesced: at most one request in flight, one queued). */
  async refresh() {
    if (this.id === null) return undefined;
    if (this.loading) {
      this.stale = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        await this.load(this.id);
      } finally {
        this.loading = null;
      }
      // Asked again meanwhile, perhaps for another alert (show() while this one loaded, or the
      // queue's selection moved when this one merged): never dropped, or the pane stays
      // "loading" with an alarm waiting.
      if (this.stale) {
        this.stale = false;
        await this.refresh();
      }
    })();
    return this.loading;
  }

  /** Read alert ``id`` and show it, unless the view moved to another alert meanwhile. */
  async load(id) {
    try {
      const detail = await api.alert(id);
      if (id !== this.id) return;
      this.detail = detail;
      this.ctx.merged(detail); // may move the queue's selection (then this view shows another)
      if (id !== this.id) return;
      this.render();
      if (!this.charts) this.loadCharts(detail);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      if (id !== this.id) return;
      if (exc.status === 404) {
        this.host.replaceChildren(h("p.empty", {}, t("detail.gone")));
      } else if (exc.status !== 401) {
        this.ctx.toast(exc.explain(), "error");
      }
    }
  }

  /** The live feed says alert ``id`` changed. */
  changed(id) {
    if (id === this.id) this.refresh();
  }

  rerender() {
    if (this.detail) {
      this.charts = null;
      this.render();
      this.loadCharts(this.detail);
    } else if (this.id === null) {
      this.renderEmpty();
    }
  }

  // ------------------------------------------------------------------ permissions

  get mine() {
    return this.detail && this.detail.claimed_by_id === this.ctx.me().id;
  }

  get oversees() {
    return OVERSEE.has(this.ctx.me().role);
  }

  /** Whether this user's role may take ``action`` on this alert at all (the server's ``may``,
   * from its rule table). */
  permitted(action) {
    const may = this.detail?.may;
    return !may || may.includes(action === "keysafe" ? "reveal_key_safe" : action);
  }

  can(action) {
    const d = this.detail;
    if (!d || !this.permitted(action)) return false;
    if (action === "claim") return d.state === "open";
    if (action === "release") return d.state === "claimed" && (this.mine || this.oversees);
    if (action === "note") return true;
    return WORKING.has(d.state) && (this.mine || this.oversees);
  }

  /** Why ``action`` cannot be done now (for a keyboard shortcut), or "" if it can. */
  why(action) {
    const d = this.detail;
    if (!d) return t("act.no_alert");
    if (this.can(action)) return "";
    if (!this.permitted(action)) return t("act.not_permitted");
    if (action === "claim") {
      return d.claimed_by ? t("act.not_holder", { name: d.claimed_by }) : label("state", d.state);
    }
    if (d.state === "open") return t("act.needs_claim");
    if (WORKING.has(d.state)) return t("act.not_holder", { name: d.claimed_by });
    return label("state", d.state);
  }

  // ------------------------------------------------------------------ actions

  /** Run an action; a 409 (or any error) is shown and the alert re-read: nothing is assumed. */
  async act(name, call) {
    const id = this.id;
    try {
      const summary = await call();
      this.error = "";
      if (summary && summary.id !== undefined) this.ctx.merged(summary);
      this.ctx.toast(t(`act.done.${name}`), "ok");
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      if (exc.status === 401) return;
      this.error = exc.explain();
      this.ctx.toast(this.error, "error");
      if (id === this.id) await this.refresh();
      throw exc;
    }
    if (id === this.id) await this.refresh();
  }

  /** Shortcut or button: do ``action`` if it can be done, else say why. */
  trigger(action) {
    const reason = this.why(action);
    if (reason) {
      this.ctx.toast(reason, "warn");
      return;
    }
    const id = this.id;
    const quiet = (promise) => promise.catch(() => {});
    if (action === "claim") quiet(this.act("claim", () => api.claim(id)));
    else if (action === "release") quiet(this.act("release", () => api.release(id)));
    else if (action === "note") noteDialog((text) => this.act("note", () => api.note(id, text)));
    else if (action === "call") this.callFor(null);
    else if (action === "dispatch") {
      dispatchDialog(this.detail, (body) => this.act("dispatch", () => api.dispatch(id, body)));
    } else if (action === "resolve") {
      resolveDialog((outcome, note) => this.act("resolve", () => api.resolve(id, outcome, note)));
    }
  }

  callFor(contactId) {
    const id = this.id;
    const reason = this.why("call");
    if (reason) {
      this.ctx.toast(reason, "warn");
      return;
    }
    const byId = new Map((this.overridden || []).map((c) => [c.id, c]));
    const detail = { ...this.detail,
      contacts: (this.detail.contacts || []).map((c) => byId.get(c.id) || c) };
    callDialog(detail, contactId, (body) => this.act("call", () => api.call(id, body)));
  }

  async revealKeySafe() {
    const id = this.id;
    try {
      const { code } = await api.keySafe(id);
      if (id !== this.id) return;
      this.keySafe = code;
      this.render();
      this.refresh(); // the reveal is on the timeline now
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
    }
  }

  /** Emergency override: the family phones a resident has not consented to share, for this
   * alert; the server logs it and leaves an inform-afterwards task. */
  overrideDialog() {
    const id = this.id;
    formDialog({ testid: "override-form", title: t("override.title"), submitLabel: t("override.show"),
      body: h("div", {}, h("p", {}, t("override.text")),
        h("label", {}, t("override.reason"), h("textarea", { name: "reason", required: true,
          maxlength: 500, rows: 2, testid: "override-reason" }))),
      submit: async (form) => {
        const shown = await api.override(id, form.elements.reason.value.trim());
        if (id !== this.id) return;
        this.overridden = shown;
        this.render();
      } });
  }

  contacts(d) {
    const byId = new Map((this.overridden || []).map((c) => [c.id, c]));
    const list = (d.contacts || []).map((c) => byId.get(c.id) || c);
    const withheld = list.some((c) => c.withheld);
    return contactsBlock({ ...d, contacts: list }, (cid) => this.callFor(cid),
      withheld ? h("div.override", { testid: "override" },
        h("span.muted.small", {}, t("override.withheld")),
        h("button.small.danger", { testid: "override-show", onclick: () => this.overrideDialog() },
          t("override.button"))) : null);
  }

  // ------------------------------------------------------------------ rendering

  render() {
    const d = this.detail;
    const host = this.host;
    const scroll = host.querySelector(".detail-body")?.scrollTop ?? 0;
    const view = h("article.detail", { testid: "alert-detail",
      dataset: { alertId: d.id, state: d.state, version: d.version } },
    this.head(d),
    h("div.detail-body", {},
      h("div.detail-grid", {},
        h("div.col", {}, this.residentCard(d), this.charts || h("div.charts")),
        h("div.col", {}, this.timeline(d), this.dispatches(d), this.devices(d)))));
    host.replaceChildren(view);
    host.querySelector(".detail-body").scrollTop = scroll;
    const timeline = host.querySelector(".timeline ol");
    if (timeline) timeline.scrollTop = timeline.scrollHeight; // the latest entry in view
    this.ctx.tick();
  }

  head(d) {
    const button = (action, key, cls = "") => h(`button.act${cls}`, {
      testid: `act-${action}`, disabled: !this.can(action),
      onclick: () => this.trigger(action),
    }, t(`act.${action}`), key ? h("kbd", {}, key) : null);
    return h("header.detail-head", {},
      h("div.title-row", {}, priorityBadge(d.priority),
        h("span.type", { testid: "detail-type" }, label("type", d.type)),
        h("h2", { testid: "detail-title" }, d.title),
        h(`span.state.state-${d.state}`, { testid: "detail-state" }, label("state", d.state)),
        wearerTag(d),
        d.escalated ? h("span.escalated", { testid: "detail-escalated" }, t("queue.escalated"))
          : null),
      h("div.meta-row", {},
        meta(t("detail.opened"), fmtDateTime(d.opened_at)),
        d.closed_at ? meta(t("detail.closed"), fmtDateTime(d.closed_at))
          : meta(t("detail.age"), ageCounter(d)),
        meta(t("detail.holder"), h("b", { testid: "detail-holder" },
          d.claimed_by || t("detail.nobody"))),
        d.outcome ? meta(t("detail.outcome"), h("b", { testid: "detail-outcome" },
          label("outcome", d.outcome))) : null,
        meta(t("detail.region"), d.region
          || h("b.unassigned", { testid: "detail-unassigned" }, t("detail.unassigned"))),
        !d.home_id && d.gateway_id ? meta(t("detail.gateway"), // the only lead to the place
          h("span.mono", { testid: "detail-gateway" }, d.gateway_id)) : null,
        d.device ? meta(t("detail.device"), d.event_count > 1
          ? `${d.device} ${t("queue.repeats", { n: d.event_count })}` : d.device,
        d.unknown_device ? [" ", unknownDevice(d.type === "panic")] : null) : null),
      d.type === "phone_in" && d.details?.caller ? phoneInRow(d.details) : null,
      h("div.actions", {},
        button("claim", "C", ".primary"), button("release", ""), button("note", "N"),
        button("call", "P"), button("dispatch", "D"), button("resolve", "R", ".finish")),
      this.error ? h("p.action-error", { testid: "action-error", role: "alert" }, this.error)
        : null);
  }

  residentCard(d) {
    const card = h("section.card.resident", { testid: "resident-card" },
      h("h3", {}, t("resident.title")));
    if (!d.residents?.length) card.append(h("p.muted", {}, t("resident.none")));
    const residents = [...(d.residents || [])].sort((a, b) =>
      (b.id === d.resident_id) - (a.id === d.resident_id));
    for (const r of residents) card.append(residentBlock(r, d));
    card.append(this.keySafeRow(d), this.contacts(d));
    return card;
  }

  keySafeRow(d) {
    const row = h("div.keysafe", { testid: "keysafe" }, h("span.k", {}, t("keysafe.title")));
    if (!d.home?.has_key_safe) {
      row.append(h("span.muted", {}, t("keysafe.none")));
    } else if (!this.permitted("keysafe")) {
      row.append(h("span.muted", { testid: "keysafe-not-permitted" }, t("keysafe.not_permitted")));
    } else if (this.keySafe) {
      row.append(h("code.code", { testid: "keysafe-code" }, this.keySafe),
        h("button.link", { onclick: () => { this.keySafe = null; this.render(); } },
          t("keysafe.hide")));
    } else {
      row.append(h("button.small", { testid: "keysafe-show", onclick: () => this.revealKeySafe() },
        t("keysafe.show")), h("span.muted.small", {}, t("keysafe.audited")));
    }
    return row;
  }

  timeline(d) {
    const items = (d.timeline || []).map((e) => h(`li.tl-${e.kind}`, {
      testid: "timeline-item", dataset: { action: e.action },
      class: isAnswer(e) ? "tl-answer" : null },
    h("time", {}, fmtTime(e.ts)),
    h("span.what", {}, timelineLabel(e) ?? label(e.kind === "event" ? "event" : "action", e.action),
      timelineDetail(e)),
    h("span.who", {}, e.actor === "system" ? t("timeline.system") : e.actor),
    noteOf(e) ? h("span.note", {}, noteOf(e)) : null));
    return h("section.card.timeline", { testid: "timeline" }, h("h3", {}, t("timeline.title")),
      items.length ? h("ol", {}, items) : h("p.muted", {}, t("timeline.empty")));
  }

  dispatches(d) {
    if (!d.dispatches?.length && !WORKING.has(d.state)) return null;
    const canWork = this.can("dispatch");
    const rows = (d.dispatches || []).map((x) => h("li", { testid: "dispatch" },
      h("span.kind", {}, label("dkind", x.kind)), h("span.target", {}, x.target),
      h(`span.dstatus.ds-${x.status}`, { testid: "dispatch-status" }, label("dstatus", x.status)),
      h("time.muted", {}, fmtTime(x.updated_at)),
      canWork && !["arrived", "cancelled"].includes(x.status)
        ? h("span.dbuttons", {}, ["en_route", "arrived", "cancelled"]
          .filter((st) => st !== x.status).map((st) => h("button.small", {
            testid: `dispatch-${st}`,
            onclick: () => this.act("dispatch_status",
              () => api.dispatchStatus(d.id, x.id, st)).catch(() => {}),
          }, t(`dstatus.set.${st}`)))) : null));
    return h("section.card.dispatches", { testid: "dispatches" }, h("h3", {}, t("dispatch.title")),
      rows.length ? h("ul", {}, rows) : h("p.muted", {}, t("dispatch.none")));
  }

  devices(d) {
    if (!d.devices?.length) return null;
    return h("section.card.devices", {}, h("h3", {}, t("devices.title")),
      h("table.devices", {}, d.devices.map((x) => (x.unknown
        ? h("tr.unknown-device", { testid: "device-unknown" },
          h("td", {}, h("span.tag.unknown-device", {}, t("devices.unknown"))),
          h("td.mono", {}, x.uid), h("td", {}, x.pressed ? h("b", {}, t("devices.pressed")) : ""),
          h("td.muted", {}, x.last_seen ? fmtDateTime(x.last_seen) : ""))
        : h("tr", {},
          h("td", {}, x.label || x.model), h("td.mono", {}, x.uid),
          h("td", {}, x.battery_pct != null ? `${t("devices.battery")} ${x.battery_pct}%` : ""),
          h("td.muted", {}, x.last_seen ? fmtDateTime(x.last_seen) : ""))))));
  }

  async loadCharts(d) {
    const residentId = d.resident_id ?? d.residents?.[0]?.id;
    const fall = d.type === "fall" && (d.device || "").startsWith("ble-");
    const box = h("div.charts", { testid: "charts" });
    this.charts = box;
    const slots = []; // for a fall, the trace around it comes first
    if (fall) slots.push([loadingChart("chart-acc", t("charts.acc")), () => api.acc(d.id)
      .then(accChart, (exc) => (exc.status === 404 ? accChart(null) : Promise.reject(exc)))]);
    if (residentId != null) {
      slots.push([loadingChart("chart-vitals", t("charts.vitals")),
        () => api.vitals(residentId).then(vitalsChart)]);
      slots.push([loadingChart("chart-activity", t("charts.activity")),
        () => api.activity(residentId).then(activityChart)]);
    }
    box.replaceChildren(...slots.map(([placeholder]) => placeholder));
    this.host.querySelector(".charts")?.replaceWith(box);
    await Promise.all(slots.map(async ([placeholder, load]) => {
      try {
        placeholder.replaceWith(await load());
      } catch (exc) {
        placeholder.querySelector(".chart-empty").textContent =
          exc instanceof ApiError ? exc.explain() : String(exc);
      }
    }));
  }
}

function meta(name, ...value) {
  return h("span.meta", {}, h("span.k", {}, name), " ", ...value);
}

/** Who called in, on which line, and why (a phone-in alert). */
function phoneInRow(x) {
  return h("div.meta-row.phone-in-row", { testid: "detail-phone-in" },
    meta(t("phonein.caller"), h("b", {}, x.caller), x.relation ? ` （${x.relation}）` : "",
      x.caller_phone ? h("span.mono", {}, ` ${x.caller_phone}`) : ""),
    meta(t("phonein.channel"), t(`channel.${x.channel}`)),
    meta(t("phonein.reason"), h("span", { testid: "detail-phone-in-reason" }, x.reason)));
}

/** The alert's device is not known to the server (raised at its gateway's home). */
function unknownDevice(pressed) {
  return h("span.tag.unknown-device", { testid: "detail-unknown-device" },
    t(pressed ? "detail.device_unknown_pressed" : "detail.device_unknown"));
}

function list(values) {
  return values?.length ? values.join("、") : t("resident.none_listed");
}

function residentBlock(r, d) {
  const years = yearsSince(r.birth_date);
  const facts = [r.sex ? t(`resident.sex.${r.sex}`) : null,
    years !== null ? t("resident.age", { n: years }) : null].filter(Boolean).join(" · ");
  const photo = r.photo_url
    ? h("img.photo", { src: r.photo_url, alt: t("resident.photo") })
    : h("div.photo.placeholder", { "aria-label": t("resident.photo") }, (r.name || "?").slice(0, 1));
  const away = awayText(r);
  return h("div.person", { testid: "resident", dataset: { residentId: r.id } },
    photo,
    h("div.person-main", {},
      h("div.name-row", {}, h("a.name", { testid: "resident-name", href: `#/residents/${r.id}`,
        title: t("tab.residents") }, r.name),
        facts ? h("span.muted", {}, facts) : null,
        ...(r.care_tags || []).map((tag) => h("span.tag", { title: tag }, label("tag", tag))),
        away ? h(`span.tag.away.status-${r.status}`, { testid: "resident-away" }, away) : null),
      h("dl.facts", {},
        fact(t("resident.address"), d.home?.address || d.address, "resident-address"),
        r.phone ? fact(t("resident.phone"), r.phone) : null,
        fact(t("resident.conditions"), list(r.conditions), "resident-conditions", "warn"),
        fact(t("resident.medications"), list(r.medications), "resident-medications"),
        r.allergies?.length ? fact(t("res.allergies"), list(r.allergies), "resident-allergies",
          "warn") : null,
        fact(t("resident.languages"), list(r.languages), "resident-languages"),
        d.home?.notes ? fact(t("resident.home_notes"), d.home.notes) : null)));
}

function fact(name, value, testid = null, cls = "") {
  return [h("dt", {}, name), h(`dd${cls ? `.${cls}` : ""}`, { testid }, value ?? "")];
}

function contactsBlock(d, onCall, extra = null) {
  const contacts = d.contacts || [];
  return h("div.contacts", { testid: "contacts" }, h("h4", {}, t("contacts.title")),
    contacts.length ? h("ol", {}, contacts.map((c) => h("li", { testid: "contact",
      dataset: { withheld: c.withheld ? "1" : "" } },
    h("span.order", {}, c.call_order), h("span.name", {}, c.name),
    c.relation ? h("span.muted", {}, c.relation) : null,
    c.withheld ? h("span.muted.small", { testid: "contact-withheld" }, t("override.hidden"))
      : h("span.phone.mono", {}, c.phone),
    c.withheld ? null : h("button.small", { testid: "contact-call", onclick: () => onCall(c.id) },
      t("contacts.call")))))
      : h("p.muted", {}, t("contacts.none")), extra);
}

/** A system entry's note in the console's language (from its ``reason``), else as written. */
function noteOf(e) {
  const own = wearerNote(e);
  if (own) return own;
  const reason = e.actor === "system" && e.data?.reason;
  return reason ? t(`sysnote.${reason}`, e.data) : e.note;
}

function timelineDetail(e) {
  const data = e.data || {};
  const bits = [];
  if (e.kind === "audit") {
    if (e.action === "call" && data.outcome) bits.push(label("call", data.outcome), data.number);
    else if (data.outcome) bits.push(label("outcome", data.outcome));
    if (e.action === "dispatch") bits.push(label("dkind", data.kind), data.target);
    if (e.action === "dispatch_status") bits.push(label("dstatus", data.status));
    if (e.action === "reprioritise" && data.priority) bits.push(data.priority);
  }
  const text = bits.filter(Boolean).join(" · ");
  return text ? h("span.detail-bits", {}, ` · ${text}`) : null;
}
