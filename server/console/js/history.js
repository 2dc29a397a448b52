// History and search of past alerts (text, state, priority, type, dates), newest first.

import { api, ApiError } from "./api.js";
import { h } from "./dom.js";
import { label, t } from "./i18n.js";
import { alertRow } from "./queue.js";

const STATES = ["open", "claimed", "dispatched", "resolved", "cancelled"];
const PRIORITIES = ["P1", "P2", "P3", "TEST"];
const TYPES = ["panic", "fall", "vitals", "inactivity", "low_battery", "tamper", "device_silent",
  "gateway_offline", "sensor_fault", "test", "phone_in", "welfare_check"];
const PAGE = 50;

/** A date input's value (local day) → ISO instant at the start of that day (+ ``days``). */
function dayStart(value, days = 0) {
  if (!value) return "";
  const d = new Date(`${value}T00:00:00`);
  d.setDate(d.getDate() + days);
  return d.toISOString();
}

export class HistoryView {
  constructor(root, detail, ctx) {
    this.root = root;
    this.detail = detail;
    this.ctx = ctx;
    this.form = root.querySelector("[data-testid=history-form]");
    this.list = root.querySelector("[data-testid=history]");
    this.emptyEl = root.querySelector("[data-testid=history-empty]");
    this.more = root.querySelector("[data-testid=history-more]");
    this.rows = [];
    this.selected = null;
    this.loaded = false;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.search();
    });
    this.more.addEventListener("click", () => this.search(true));
    this.translate();
  }

  translate() {
    const fill = (name, anyKey, values, kind) => {
      const select = this.form.elements[name];
      const current = select.value;
      select.replaceChildren(h("option", { value: "" }, t(anyKey)),
        ...values.map((v) => h("option", { value: v }, label(kind, v))));
      select.value = current;
    };
    fill("state", "history.any_state", STATES, "state");
    fill("priority", "history.any_priority", PRIORITIES, "priority");
    fill("type", "history.any_type", TYPES, "type");
    if (this.loaded) this.render();
  }

  /** Forget everything (signed out): the next user starts afresh. */
  reset() {
    this.rows = [];
    this.selected = null;
    this.loaded = false;
    this.form.reset();
    this.more.hidden = true;
    this.render();
  }

  /** First visit: the latest alerts without filters. */
  enter() {
    if (!this.loaded) this.search();
  }

  async search(more = false) {
    const f = this.form.elements;
    const params = { q: f.q.value.trim(), state: f.state.value, priority: f.priority.value,
      type: f.type.value, since: dayStart(f.since.value), until: dayStart(f.until.value, 1),
      limit: PAGE, before_id: more && this.rows.length ? this.rows[this.rows.length - 1].id : "" };
    try {
      const rows = await api.history(params);
      this.rows = more ? [...this.rows, ...rows] : rows;
      this.loaded = true;
      this.more.hidden = rows.length < PAGE;
      this.render();
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
    }
  }

  render() {
    this.list.replaceChildren(...this.rows.map((a) => alertRow(a, { live: false,
      selected: a.id === this.selected, onSelect: (id) => this.select(id) })));
    this.emptyEl.hidden = this.rows.length > 0 || !this.loaded;
  }

  select(id) {
    this.selected = id;
    this.render();
    this.detail.show(id);
  }

  /** A live change: update the row if it is listed. */
  changed(summary) {
    const i = this.rows.findIndex((a) => a.id === summary.id);
    if (i >= 0 && summary.version > this.rows[i].version) {
      this.rows[i] = { ...this.rows[i], ...summary };
      this.render();
    }
  }
}
