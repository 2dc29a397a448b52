"""The monthly service report's figures: alarms, answer times, devices, visits, care calls and
services for one month and one area, each read with its own query limited to the area."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from server import reports
from server.directory.regions import list_regions
from server.errors import NotFound
from server.scope import Scope
from server.visits.compliance import compliance
from server.visits.tasks import first_of

# the outcome groups the report names; every other outcome counts as "other", none as "open"
OUTCOME_GROUPS = ("genuine", "accidental", "test", "false_alarm")
LOW_PCT, FULL_PCT = 20, 80  # a battery replacement: from ≤ 20 % to ≥ 80 % within the month


@dataclass
class MonthFigures:
    """One month's figures (the month is [first day 00:00, next first day) in the database's
    time zone)."""

    month: date
    alarms: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)
    escalations: int = 0
    false_alarms_by_kind: list[dict[str, Any]] = field(default_factory=list)
    devices: int = 0
    devices_reporting: int = 0
    device_online_rate: float | None = None
    gateways: int = 0
    gateways_seen: int = 0
    battery_replacements: int = 0
    visits_due: int = 0
    visits_done: int = 0
    visit_rate: float | None = None
    visits_by_tag: dict[str, dict[str, Any]] = field(default_factory=dict)
    visits_not_home: int = 0
    calls_made: int = 0
    calls_answered: int = 0
    calls_concerns: int = 0
    calls_no_answer: int = 0
    residents_new: int = 0
    residents_ended: int = 0
    residents_moved: int = 0
    residents_deceased: int = 0


@dataclass
class MonthlyReport:
    month: date
    area_id: int | None
    area_name: str
    this: MonthFigures
    previous: MonthFigures

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month.isoformat()[:7], "area_id": self.area_id,
                "area_name": self.area_name, "this": _dump(self.this),
                "previous": _dump(self.previous)}


def _dump(f: MonthFigures) -> dict[str, Any]:
    out = asdict(f)
    out["month"] = f.month.isoformat()[:7]
    return out


def previous_month(month: date) -> date:
    month = first_of(month)
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year,
                                                                     month.month - 1, 1)


def area_scope(conn: psycopg.Connection[Any], scope: Scope, area: int | None) -> tuple[Scope, str]:
    """The caller's scope narrowed to region ``area`` and its sub-regions, and the area's name
    (NotFound: no such region, or none of it in the caller's scope)."""
    if area is None:
        return scope, "全部地区"
    regions = {r.id: r for r in list_regions(conn)}
    if area not in regions:
        raise NotFound(f"no region {area}", field="area")
    name = regions[area].name
    if scope.covers(conn, area):
        return Scope((area,)), name
    under = Scope((area,))
    mine = tuple(r for r in scope.regions or () if under.covers(conn, r))
    if not mine:
        raise NotFound(f"no region {area}", field="area")
    return Scope(mine), name


def monthly_report(conn: psycopg.Connection[Any], scope: Scope, month: date,
                   area: int | None = None) -> MonthlyReport:
    """The report for ``month`` (any day of it) and the previous month, limited to ``area``
    (a region id, with its sub-regions) within the caller's ``scope``."""
    month = first_of(month)
    where, name = area_scope(conn, scope, area)
    return MonthlyReport(month, area, name, month_figures(conn, where, month),
                         month_figures(conn, where, previous_month(month)))


def month_figures(conn: psycopg.Connection[Any], scope: Scope, month: date) -> MonthFigures:
    f = MonthFigures(month)
    _alarms(conn, scope, f)
    _devices(conn, scope, f)
    _visits(conn, scope, f)
    _calls(conn, scope, f)
    _residents(conn, scope, f)
    return f


def _bounds(conn: psycopg.Connection[Any], month: date) -> tuple[datetime, datetime]:
    row = conn.execute("SELECT %(m)s::date::timestamptz, (%(m)s::date + interval '1 month')"
                       "::timestamptz", {"m": month}).fetchone()
    assert row is not None
    return row[0], row[1]


_IN_MONTH = "{col} >= %(m)s::date AND {col} < %(m)s::date + interval '1 month'"


def _in_month(column: str) -> sql.Composable:
    return sql.SQL(_IN_MONTH).format(col=sql.Identifier(*column.split(".")))


def _alarms(conn: psycopg.Connection[Any], scope: Scope, f: MonthFigures) -> None:
    """Every alert opened in the month in the area (by the alert's region)."""
    base = sql.SQL("FROM alerts a LEFT JOIN devices d ON d.uid = a.device WHERE {} AND {}").format(
        scope.where("a.region_id"), _in_month("a.opened_at"))
    p = {"m": f.month}
    f.by_type = {t: n for t, n in conn.execute(
        sql.SQL("SELECT a.type, count(*) {} GROUP BY 1 ORDER BY 2 DESC, 1").format(base), p)}
    f.alarms = sum(f.by_type.values())
    outcomes = {g: 0 for g in (*OUTCOME_GROUPS, "other", "open")}
    for outcome, n in conn.execute(
            sql.SQL("SELECT a.outcome, count(*) {} GROUP BY 1").format(base), p):
        key = "open" if outcome is None else outcome if outcome in OUTCOME_GROUPS else "other"
        outcomes[key] += n
    f.by_outcome = outcomes
    row = conn.execute(sql.SQL("SELECT count(*) FILTER (WHERE a.escalated) {}").format(base),
                       p).fetchone()
    f.escalations = int(row[0]) if row else 0
    f.false_alarms_by_kind = [
        {"kind": kind, "alarms": n, "closed": closed, "false_alarms": false,
         "rate": round(false / closed, 4) if closed else None}
        for kind, n, closed, false in conn.execute(sql.SQL(
            "SELECT coalesce(nullif(d.kind, ''), 'unknown'), count(*), "
            "count(a.outcome), count(*) FILTER (WHERE a.outcome = 'false_alarm') {} "
            "AND a.device IS NOT NULL GROUP BY 1 ORDER BY 1").format(base), p)]
    since, until = _bounds(conn, f.month)
    f.answer = asdict(reports.answer_times(conn, scope, since, until))


def _devices(conn: psycopg.Connection[Any], scope: Scope, f: MonthFigures) -> None:
    """Devices paired before the month's end (and not unpaired before its start) at a gateway
    of a home in the area; reporting: it sent a health report or an event in the month.
    Gateways seen: last seen in the month, or an 'online' presence change in it."""
    p = {"m": f.month}
    row = conn.execute(sql.SQL(
        "WITH dev AS (SELECT d.uid FROM devices d JOIN gateways g ON g.id = d.gateway_id "
        "JOIN homes h ON h.id = g.home_id WHERE {scope} AND d.paired_at IS NOT NULL AND "
        "d.paired_at < %(m)s::date + interval '1 month' AND (d.unpaired_at IS NULL OR "
        "d.unpaired_at >= %(m)s::date)) "
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM device_health x WHERE "
        "x.device = dev.uid AND {hx}) OR EXISTS (SELECT 1 FROM events e WHERE "
        "e.device = dev.uid AND {ev})), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "
        "device_health lo JOIN device_health hi ON hi.device = lo.device AND hi.ts > lo.ts "
        "WHERE lo.device = dev.uid AND lo.battery_pct <= %(low)s AND hi.battery_pct >= %(full)s "
        "AND {lo} AND {hi})) FROM dev").format(
            scope=scope.where("h.region_id"), hx=_in_month("x.ts"), ev=_in_month("e.ts"),
            lo=_in_month("lo.ts"), hi=_in_month("hi.ts")),
        {**p, "low": LOW_PCT, "full": FULL_PCT}).fetchone()
    assert row is not None
    f.devices, f.devices_reporting, f.battery_replacements = map(int, row)
    f.device_online_rate = round(f.devices_reporting / f.devices, 4) if f.devices else None
    row = conn.execute(sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE {seen} OR EXISTS (SELECT 1 FROM "
        "gateway_presence gp WHERE gp.gateway_id = g.id AND gp.state = 'online' AND {gp})) "
        "FROM gateways g JOIN homes h ON h.id = g.home_id WHERE {scope} "
        "AND g.created_at < %(m)s::date + interval '1 month'").format(
            seen=_in_month("g.last_seen"), gp=_in_month("gp.ts"),
            scope=scope.where("h.region_id")), p).fetchone()
    assert row is not None
    f.gateways, f.gateways_seen = int(row[0]), int(row[1])


def _visits(conn: psycopg.Connection[Any], scope: Scope, f: MonthFigures) -> None:
    c = compliance(conn, scope, f.month)
    f.visits_due, f.visits_done, f.visit_rate = c.total.due, c.total.done, c.total.rate
    f.visits_by_tag, f.visits_not_home = c.tags, c.not_home


def _calls(conn: psycopg.Connection[Any], scope: Scope, f: MonthFigures) -> None:
    row = conn.execute(sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE c.outcome IN ('well', 'concern')), "
        "count(*) FILTER (WHERE c.outcome = 'concern'), "
        "count(*) FILTER (WHERE c.outcome = 'no_answer') FROM care_calls c "
        "JOIN residents r ON r.id = c.resident_id JOIN homes h ON h.id = r.home_id "
        "WHERE {} AND {}").format(scope.where("h.region_id"), _in_month("c.called_at")),
        {"m": f.month}).fetchone()
    assert row is not None
    f.calls_made, f.calls_answered, f.calls_concerns, f.calls_no_answer = map(int, row)


def _residents(conn: psycopg.Connection[Any], scope: Scope, f: MonthFigures) -> None:
    """New: residents created in the month; ended: moved or deceased since a day of it."""
    row = conn.execute(sql.SQL(
        "SELECT count(*) FILTER (WHERE {new}), "
        "count(*) FILTER (WHERE r.status = 'moved' AND {since}), "
        "count(*) FILTER (WHERE r.status = 'deceased' AND {since}) FROM residents r "
        "JOIN homes h ON h.id = r.home_id WHERE {scope}").format(
            new=_in_month("r.created_at"), since=_in_month("r.status_since"),
            scope=scope.where("h.region_id")), {"m": f.month}).fetchone()
    assert row is not None
    f.residents_new, f.residents_moved, f.residents_deceased = map(int, row)
    f.residents_ended = f.residents_moved + f.residents_deceased
