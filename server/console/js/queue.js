// Alert rows (queue and history) and the live queue list with its selection.

import { ageCounter, priorityBadge } from "./alert.js";
import { fmtDateTime, h } from "./dom.js";
import { label, t } from "./i18n.js";
import { awayText } from "./phonein.js";
import { wearerTag } from "./wearer.js";

/** One alert as a row; ``live``: with the age timer (queue), else the opening time (history). */
export function alertRow(a, { live, selected, onSelect }) {
  const active = ["open", "claimed", "dispatched"].includes(a.state);
  const holder = a.claimed_by ? h("span.holder", { testid: "holder" },
    t(active ? "queue.holder" : "queue.handled", { name: a.claimed_by })) : null;
  return h(`li.row.prio-${a.priority}.state-${a.state}`, {
    testid: live ? "queue-row" : "history-row",
    class: [selected ? "selected" : "", a.escalated ? "is-escalated" : ""].join(" ").trim(),
    dataset: { alertId: a.id, state: a.state, priority: a.priority },
    "aria-selected": selected ? "true" : "false",
    onclick: () => onSelect(a.id),
  },
  h("div.r1", {}, priorityBadge(a.priority),
    h("span.type", {}, label("type", a.type)),
    a.event_count > 1 ? h("span.repeats", {}, t("queue.repeats", { n: a.event_count })) : null,
    h("span.grow"),
    live ? ageCounter(a) : h("time.muted", {}, fmtDateTime(a.opened_at))),
  h("div.r2", {}, h("b.title", {}, a.title),
    a.address && a.address !== a.title ? h("span.address", {}, a.address) : null,
    a.unknown_device ? h("span.tag.unknown-device", { testid: "unknown-device" },
      t(a.type === "panic" ? "detail.device_unknown_pressed" : "detail.device_unknown")) : null,
    a.resident_away ? h("span.tag.away", { testid: "row-away" },
      awayText(a, a.resident_away, a.resident_away_until)) : null,
    wearerTag(a)),
  h("div.r3", {},
    h(`span.state.state-${a.state}`, {}, label("state", a.state)),
    holder,
    a.outcome ? h("span.muted", {}, label("outcome", a.outcome)) : null,
    a.escalated ? h("span.escalated", { testid: "escalated" }, t("queue.escalated")) : null,
    h("span.grow"), a.region ? h("span.muted.small", {}, a.region)
      : h("span.tag.unassigned", { testid: "unassigned" }, t("queue.unassigned"))));
}

export class QueueList {
  /** list: the <ol>; emptyEl: the empty-state paragraph; onSelect(id). */
  constructor(list, emptyEl, onSelect) {
    this.list = list;
    this.emptyEl = emptyEl;
    this.onSelect = onSelect;
    this.alerts = [];
    this.selected = null;
  }

  render(alerts, selected) {
    this.alerts = alerts;
    this.selected = selected;
    this.list.replaceChildren(...alerts.map((a) => alertRow(a, { live: true,
      selected: a.id === selected, onSelect: this.onSelect })));
    this.emptyEl.hidden = alerts.length > 0;
    this.list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
  }

  /** The id ``step`` rows away from the selection (the first row when nothing is selected). */
  neighbour(step) {
    if (!this.alerts.length) return null;
    const at = this.alerts.findIndex((a) => a.id === this.selected);
    if (at < 0) return this.alerts[0].id;
    const next = Math.min(this.alerts.length - 1, Math.max(0, at + step));
    return this.alerts[next].id;
  }
}
