// The live queue's state: active alerts by id, merged from the queue API and the live feed.
// Every summary carries the alert's ``version``; an older copy never overwrites a newer one
// (a queue fetch can race the feed), and alerts that left the queue are remembered by version.

export const ACTIVE = new Set(["open", "claimed", "dispatched"]);
const PRIORITY_RANK = { P1: 1, P2: 2, P3: 3, TEST: 4 };

export class AlertStore {
  constructor() {
    this.includeTest = false;
    this.clear();
  }

  clear() {
    this.alerts = new Map();
    this.versions = new Map();
  }

  /** Merge one summary; returns "added", "updated", "removed" or null (nothing new). */
  apply(alert) {
    const known = this.versions.get(alert.id);
    if (known !== undefined && alert.version <= known) return null;
    this.versions.set(alert.id, alert.version);
    const visible = ACTIVE.has(alert.state) && (this.includeTest || alert.priority !== "TEST");
    const had = this.alerts.has(alert.id);
    if (!visible) {
      this.alerts.delete(alert.id);
      return had ? "removed" : null;
    }
    this.alerts.set(alert.id, alert);
    return had ? "updated" : "added";
  }

  get(id) {
    return this.alerts.get(id);
  }

  /** Most urgent first: priority, then the oldest. */
  sorted() {
    return [...this.alerts.values()].sort((a, b) =>
      (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9)
      || Date.parse(a.opened_at) - Date.parse(b.opened_at) || a.id - b.id);
  }
}
