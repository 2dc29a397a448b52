"""Read queries for the console: the live queue, history search, one alert in full, reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from server.directory import contacts_of, residents_of_home

PRIORITY_ORDER = "CASE a.priority WHEN 'P1' THEN 1 WHEN 'P2' THEN 2 WHEN 'P3' THEN 3 ELSE 4 END"

SUMMARY = """
SELECT a.id, a.type, a.priority, a.state, a.escalated, a.title, a.event_count, a.opened_at,
       a.last_event_at, a.claimed_at, a.closed_at, a.outcome, a.version, a.region_id,
       a.resident_id, a.home_id, a.gateway_id, a.device, h.address, u.display_name AS claimed_by,
       a.claimed_by AS claimed_by_id, reg.name AS region,
       coalesce(a.details -> 'unknown_device' = 'true'::jsonb, false) AS unknown_device
FROM alerts a LEFT JOIN homes h ON h.id = a.home_id LEFT JOIN users u ON u.id = a.claimed_by
     LEFT JOIN regions reg ON reg.id = a.region_id
"""


def _rows(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def queue(conn: psycopg.Connection[Any], where: str, args: list[Any],
          include_test: bool = False) -> list[dict[str, Any]]:
    """Active alerts, most urgent first: priority, then age."""
    test = "" if include_test else " AND a.priority <> 'TEST'"
    return _rows(conn.execute(
        f"{SUMMARY} WHERE a.state IN ('open', 'claimed', 'dispatched') AND {where}{test} "
        f"ORDER BY {PRIORITY_ORDER}, a.opened_at", args))


def search(conn: psycopg.Connection[Any], where: str, args: list[Any], *, state: str | None,
           priority: str | None, kind: str | None, text: str | None, since: datetime | None,
           until: datetime | None, limit: int, before_id: int | None) -> list[dict[str, Any]]:
    """History: newest first, filtered; page with ``before_id``."""
    conds, params = [where], list(args)
    for column, value in (("a.state", state), ("a.priority", priority), ("a.type", kind)):
        if value:
            conds.append(f"{column} = %s")
            params.append(value)
    if text:
        conds.append("(a.title ILIKE %s OR h.address ILIKE %s OR a.device ILIKE %s)")
        params += [f"%{text}%"] * 3
    for op, value in ((">=", since), ("<", until)):
        if value:
            conds.append(f"a.opened_at {op} %s")
            params.append(value)
    if before_id:
        conds.append("a.id < %s")
        params.append(before_id)
    return _rows(conn.execute(f"{SUMMARY} WHERE {' AND '.join(conds)} ORDER BY a.id DESC "
                              "LIMIT %s", [*params, limit]))


def summary(conn: psycopg.Connection[Any], alert_id: int) -> dict[str, Any] | None:
    rows = _rows(conn.execute(f"{SUMMARY} WHERE a.id = %s", (alert_id,)))
    return rows[0] if rows else None


def detail(conn: psycopg.Connection[Any], alert: dict[str, Any]) -> dict[str, Any]:
    """Everything the operator needs: residents' cards, contacts, devices, timeline, dispatches."""
    residents = residents_of_home(conn, alert["home_id"]) if alert["home_id"] else []
    home = None
    if alert["home_id"]:
        cur = conn.execute("SELECT id, address, notes, key_safe_code IS NOT NULL AS has_key_safe "
                           "FROM homes WHERE id = %s", (alert["home_id"],))
        home = _rows(cur)[0]
    devices = _rows(conn.execute(
        "SELECT uid, model, kind, label, resident_id, last_seen, battery_pct, battery_mv, "
        "false AS unknown, NULL::boolean AS pressed "
        "FROM devices WHERE gateway_id = %s ORDER BY uid", (alert["gateway_id"],)))
    devices += unknown_devices(conn, alert["id"])
    return {**alert, "home": home, "residents": residents,
            "contacts": contacts_of(conn, [r["id"] for r in residents]),
            "devices": devices, "timeline": timeline(conn, alert["id"]),
            "dispatches": _rows(conn.execute(
                "SELECT id, kind, target, status, created_at, updated_at FROM dispatches "
                "WHERE alert_id = %s ORDER BY id", (alert["id"],)))}


def unknown_devices(conn: psycopg.Connection[Any], alert_id: int) -> list[dict[str, Any]]:
    """Devices of the alert's events that the server does not know, and whether one pressed."""
    return _rows(conn.execute(
        "SELECT e.device AS uid, NULL AS model, NULL AS kind, '' AS label, NULL AS resident_id,"
        " max(e.ts) AS last_seen, NULL AS battery_pct, NULL AS battery_mv, true AS unknown,"
        " bool_or(e.type IN ('press', 'long_press')) AS pressed"
        " FROM alert_events ae JOIN events e ON e.id = ae.event_id"
        " WHERE ae.alert_id = %s AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.uid = e.device)"
        " GROUP BY e.device ORDER BY e.device", (alert_id,)))


def timeline(conn: psycopg.Connection[Any], alert_id: int) -> list[dict[str, Any]]:
    """Device events and audit rows of an alert, in time order."""
    return _rows(conn.execute(
        "SELECT * FROM ("
        " SELECT e.ts, 'event' AS kind, e.type AS action, e.device AS actor, '' AS note,"
        "        jsonb_build_object('id', e.id, 'data', e.data) AS data"
        " FROM alert_events ae JOIN events e ON e.id = ae.event_id WHERE ae.alert_id = %s"
        " UNION ALL"
        " SELECT ts, 'audit', action, actor, note, data || jsonb_build_object("
        "        'from', from_state, 'to', to_state)"
        " FROM alert_audit WHERE alert_id = %s AND action NOT IN ('bump')"
        ") t ORDER BY ts", (alert_id, alert_id)))


def answer_times(conn: psycopg.Connection[Any], since: datetime, until: datetime,
                 where: str, args: list[Any]) -> dict[str, Any]:
    """Answer time = first claim − opening, over P1/P2 alarms opened in [since, until).

    Alarms the resident cancelled need no answer and are left out; alarms never answered count
    as slower than any threshold.
    """
    row = conn.execute(
        "WITH t AS (SELECT extract(epoch FROM a.answered_at - a.opened_at) AS s FROM alerts a "
        f"WHERE a.priority IN ('P1', 'P2') AND a.state <> 'cancelled' AND {where} "
        "AND a.opened_at >= %s AND a.opened_at < %s) "
        "SELECT count(*), count(s), count(*) FILTER (WHERE s <= 60), "
        "count(*) FILTER (WHERE s <= 180), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FROM t", [*args, since, until]).fetchone()
    assert row is not None
    total, answered, in60, in180, p50, p90 = row
    share = (lambda n: round(n / total, 4) if total else None)  # noqa: E731
    return {"since": since, "until": until, "alarms": total, "answered": answered,
            "within_60s": share(in60), "within_180s": share(in180),
            "p50_s": None if p50 is None else round(p50, 1),
            "p90_s": None if p90 is None else round(p90, 1),
            "target_within_60s": 0.975, "target_within_180s": 0.99}
