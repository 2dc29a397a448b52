"""一屏 the dashboard: live counts per community (a region of level 社区) in the caller's scope,
and in total — open alerts by priority, elders served by care tag, devices and gateways online,
today's visits and care calls.

Each figure is one grouped query keyed by the community's id; a home's region is its community.
Alerts nobody could place (no region) are counted apart (``unassigned_alerts``) for those who
see the unassigned queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from hardware.catalog import MODELS
from server.scope import Scope

PRIORITIES = ("P1", "P2", "P3")
MISSES = 3  # supervision windows: a device unheard for this many intervals is not online


@dataclass(slots=True)
class Figures:
    """One community's (or the total's) counts."""

    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    elders: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    devices: int = 0
    devices_online: int = 0
    gateways: int = 0
    gateways_online: int = 0
    visits_due: int = 0  # open or done tasks due today or earlier, still open or done today
    visits_done: int = 0  # visits recorded today (at home or not)
    calls_due: int = 0  # open calls due by today, and calls made today
    calls_made: int = 0
    calls_answered: int = 0

    def add(self, other: Figures) -> None:
        for p, n in other.alerts.items():
            self.alerts[p] = self.alerts.get(p, 0) + n
        for t, n in other.tags.items():
            self.tags[t] = self.tags.get(t, 0) + n
        for name in ("elders", "devices", "devices_online", "gateways", "gateways_online",
                     "visits_due", "visits_done", "calls_due", "calls_made", "calls_answered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class Community:
    id: int
    name: str
    street: str
    district: str
    figures: Figures


@dataclass(slots=True)
class Dashboard:
    at: datetime
    today: date
    communities: list[Community]
    total: Figures
    unassigned_alerts: int


_COMMUNITIES = sql.SQL(
    "SELECT c.id, c.name, coalesce(s.name, '') AS street, coalesce(d.name, '') AS district "
    "FROM regions c LEFT JOIN regions s ON s.id = c.parent_id "
    "LEFT JOIN regions d ON d.id = s.parent_id WHERE c.level = '社区' AND {} "
    "ORDER BY d.id NULLS FIRST, s.id NULLS FIRST, c.id")

_ALERTS = sql.SQL(
    "SELECT a.region_id, a.priority, count(*) FROM alerts a "
    "WHERE a.state IN ('open', 'claimed', 'dispatched') AND a.priority <> 'TEST' AND {} "
    "GROUP BY 1, 2")

_SERVED = "r.status NOT IN ('moved', 'deceased')"
_ELDERS = sql.SQL(
    "SELECT h.region_id, count(*) FROM residents r JOIN homes h ON h.id = r.home_id "
    "WHERE " + _SERVED + " AND {} GROUP BY 1")
_TAGS = sql.SQL(
    "SELECT h.region_id, t, count(*) FROM residents r JOIN homes h ON h.id = r.home_id, "
    "unnest(r.care_tags) t WHERE " + _SERVED + " AND {} GROUP BY 1, 2")

_DEVICES = sql.SQL(
    "SELECT h.region_id, count(*), count(*) FILTER (WHERE g.state = 'online' "
    " AND d.silent_since IS NULL AND d.last_seen IS NOT NULL "
    " AND d.last_seen > now() - make_interval(secs => {misses} * coalesce(m.interval_s, {dflt}))) "
    "FROM devices d JOIN gateways g ON g.id = d.gateway_id JOIN homes h ON h.id = g.home_id "
    "LEFT JOIN (VALUES {models}) m(model, interval_s) ON m.model = d.model "
    "WHERE d.unpaired_at IS NULL AND {scope} GROUP BY 1")
_GATEWAYS = sql.SQL(
    "SELECT h.region_id, count(*), count(*) FILTER (WHERE g.state = 'online') "
    "FROM gateways g JOIN homes h ON h.id = g.home_id WHERE {} GROUP BY 1")

# today's visits: tasks due by today still open, or closed today; visits recorded today
_VISITS_DUE = sql.SQL(
    "SELECT h.region_id, count(*) FROM visit_tasks t JOIN residents r ON r.id = t.resident_id "
    "JOIN homes h ON h.id = r.home_id WHERE t.due_on <= %(today)s AND (t.status = 'open' OR "
    "(t.status IN ('done', 'not_home') AND t.closed_at::date = %(today)s)) AND {} GROUP BY 1")
_VISITS_DONE = sql.SQL(
    "SELECT h.region_id, count(*) FROM visits v JOIN residents r ON r.id = v.resident_id "
    "JOIN homes h ON h.id = r.home_id WHERE v.arrived_at::date = %(today)s AND {} GROUP BY 1")
_CALLS_DUE = sql.SQL(
    "SELECT h.region_id, count(*) FROM care_call_tasks t JOIN residents r ON r.id = t.resident_id "
    "JOIN homes h ON h.id = r.home_id WHERE t.due_on <= %(today)s AND (t.status = 'open' OR "
    "(t.status = 'done' AND t.closed_at::date = %(today)s)) AND {} GROUP BY 1")
_CALLS_MADE = sql.SQL(
    "SELECT h.region_id, count(*), count(*) FILTER (WHERE c.outcome <> 'no_answer') "
    "FROM care_calls c JOIN residents r ON r.id = c.resident_id JOIN homes h ON h.id = r.home_id "
    "WHERE c.called_at::date = %(today)s AND {} GROUP BY 1")


def dashboard(conn: psycopg.Connection[Any], scope: Scope, *, unassigned: bool = True,
              today: date | None = None) -> Dashboard:
    """The counts for ``scope``'s communities; ``unassigned``: count alerts without a region
    (those who work the unassigned queue see them)."""
    day = today or date.today()
    args = {"today": day}
    rows = conn.execute(_COMMUNITIES.format(scope.where("c.id"))).fetchall()
    by_id = {int(r[0]): Community(int(r[0]), r[1], r[2], r[3], Figures()) for r in rows}

    def figures(region: Any) -> Figures | None:
        found = by_id.get(int(region)) if region is not None else None
        return found.figures if found else None

    unplaced = 0
    for region, priority, n in conn.execute(
            _ALERTS.format(scope.where("a.region_id", unplaced=unassigned))):
        if region is None:
            unplaced += int(n)
        elif (f := figures(region)) is not None:
            f.alerts[priority] = f.alerts.get(priority, 0) + int(n)
    where = scope.where("h.region_id")
    for region, n in conn.execute(_ELDERS.format(where)):
        if (f := figures(region)) is not None:
            f.elders = int(n)
    for region, tag, n in conn.execute(_TAGS.format(where)):
        if (f := figures(region)) is not None:
            f.tags[tag] = int(n)
    models = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(k), sql.Literal(float(m.supervision_interval_s)))
        for k, m in MODELS.items())
    for region, n, online in conn.execute(_DEVICES.format(
            misses=sql.Literal(MISSES), dflt=sql.Literal(3600.0), models=models, scope=where)):
        if (f := figures(region)) is not None:
            f.devices, f.devices_online = int(n), int(online)
    for region, n, online in conn.execute(_GATEWAYS.format(where)):
        if (f := figures(region)) is not None:
            f.gateways, f.gateways_online = int(n), int(online)
    for query, name in ((_VISITS_DUE, "visits_due"), (_VISITS_DONE, "visits_done"),
                        (_CALLS_DUE, "calls_due")):
        for region, n in conn.execute(query.format(where), args):
            if (f := figures(region)) is not None:
                setattr(f, name, int(n))
    for region, n, answered in conn.execute(_CALLS_MADE.format(where), args):
        if (f := figures(region)) is not None:
            f.calls_made, f.calls_answered = int(n), int(answered)
    total = Figures()
    for c in by_id.values():
        total.add(c.figures)
    now = conn.execute("SELECT now()").fetchone()
    return Dashboard(now[0] if now else datetime.now(), day, list(by_id.values()), total,
                     unplaced)
