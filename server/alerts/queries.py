"""The read side of alerts: the live queue, history search, one alert in full, the live feed's
pages, reports. Every read for a user is limited by their ``Scope`` (``server.scope``); alerts
nobody could place (no region) are visible to everyone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from server.alerts.feed import readable
from server.alerts.model import NotFound
from server.directory.sensitive import Access, contacts_for, contacts_withheld, resident_cards
from server.privacy import consent
from server.scope import ALL, Scope

PRIORITY_ORDER = sql.SQL(
    "CASE a.priority WHEN 'P1' THEN 1 WHEN 'P2' THEN 2 WHEN 'P3' THEN 3 ELSE 4 END")

SUMMARY = """
SELECT a.id, a.type, a.priority, a.state, a.escalated, a.title, a.event_count, a.opened_at,
       a.last_event_at, a.claimed_at, a.closed_at, a.outcome, a.version, a.region_id,
       a.resident_id, a.home_id, a.gateway_id, a.device, h.address, u.display_name AS claimed_by,
       a.claimed_by AS claimed_by_id, reg.name AS region,
       coalesce(a.details -> 'unknown_device' = 'true'::jsonb, false) AS unknown_device,
       CASE WHEN res.status IN ('away', 'in_hospital') AND (res.away_until IS NULL
                 OR res.away_until > now()) AND res.status_since <= now()
            THEN res.status END AS resident_away, res.away_until AS resident_away_until,
       a.details -> 'wearer' AS wearer, a.details -> 'prewarning' AS prewarning
FROM alerts a LEFT JOIN homes h ON h.id = a.home_id LEFT JOIN users u ON u.id = a.claimed_by
     LEFT JOIN regions reg ON reg.id = a.region_id LEFT JOIN residents res ON res.id = a.resident_id
"""

# The change feed after a seq, each change with its alert's summary where the scope shows it.
_FEED = """
SELECT c.seq, extract(epoch FROM clock_timestamp() - c.ts)::float8, c.alert_id, c.action, s.*
FROM alert_changes c LEFT JOIN ({summary} WHERE {scope}) s ON s.id = c.alert_id
WHERE c.seq > %s ORDER BY c.seq LIMIT %s
"""


def _rows(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _summaries(where: sql.Composable, tail: sql.Composable | None = None) -> sql.Composed:
    return sql.SQL("{} WHERE {}{}").format(sql.SQL(SUMMARY), where, tail or sql.SQL(""))


def _visible(scope: Scope) -> sql.Composable:
    return scope.where("a.region_id", unplaced=True)


def queue(conn: psycopg.Connection[Any], scope: Scope,
          include_test: bool = False) -> list[dict[str, Any]]:
    """Active alerts in ``scope``, most urgent first: priority, then age."""
    conds = [sql.SQL("a.state IN ('open', 'claimed', 'dispatched')"), _visible(scope)]
    if not include_test:
        conds.append(sql.SQL("a.priority <> 'TEST'"))
    order = sql.SQL(" ORDER BY {}, a.opened_at").format(PRIORITY_ORDER)
    return _rows(conn.execute(_summaries(sql.SQL(" AND ").join(conds), order)))


def search(conn: psycopg.Connection[Any], scope: Scope, *, state: str | None,
           priority: str | None, kind: str | None, text: str | None, since: datetime | None,
           until: datetime | None, limit: int, before_id: int | None) -> list[dict[str, Any]]:
    """History in ``scope``: newest first, filtered; page with ``before_id``."""
    conds: list[sql.Composable] = [_visible(scope)]
    params: list[Any] = []
    filters = (("a.state = %s", state), ("a.priority = %s", priority), ("a.type = %s", kind),
               ("a.opened_at >= %s", since), ("a.opened_at < %s", until))
    for cond, value in filters:
        if value:
            conds.append(sql.SQL(cond))
            params.append(value)
    if text:
        conds.append(sql.SQL("(a.title ILIKE %s OR h.address ILIKE %s OR a.device ILIKE %s)"))
        params += [f"%{text}%"] * 3
    if before_id:
        conds.append(sql.SQL("a.id < %s"))
        params.append(before_id)
    return _rows(conn.execute(_summaries(sql.SQL(" AND ").join(conds),
                                         sql.SQL(" ORDER BY a.id DESC LIMIT %s")),
                              [*params, limit]))


def summary(conn: psycopg.Connection[Any], alert_id: int,
            scope: Scope = ALL) -> dict[str, Any] | None:
    """One alert's summary; None if there is no such alert in ``scope``."""
    rows = _rows(conn.execute(_summaries(sql.SQL("a.id = %s AND {}").format(_visible(scope))),
                              (alert_id,)))
    return rows[0] if rows else None


def visible(conn: psycopg.Connection[Any], alert_id: int, scope: Scope) -> dict[str, Any]:
    """One alert's summary; ``NotFound`` (404) if there is no such alert in ``scope``: an alert
    outside it looks exactly like one that does not exist."""
    found = summary(conn, alert_id, scope)
    if found is None:
        raise NotFound(f"no alert {alert_id}")
    return found


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Changes after a seq that a scope may see, each with its alert's current summary."""

    seq: int  # the last change read (seen or not): where the next page starts
    changes: list[dict[str, Any]]  # {"seq", "alert_id", "action", "alert": summary}
    full: bool  # the page was full: more may follow at once


def feed_page(conn: psycopg.Connection[Any], scope: Scope, seq: int,
              limit: int = 1000) -> FeedPage:
    """One query for a page of the change feed joined with the summaries ``scope`` shows;
    stops before a gap that may still commit (``server.alerts.feed.changes_since``)."""
    cur = conn.execute(sql.SQL(_FEED).format(summary=sql.SQL(SUMMARY), scope=_visible(scope)),
                       (seq, limit))
    cols = [d.name for d in cur.description or ()][4:]
    rows = cur.fetchall()
    rows = rows[:readable(rows, seq)]
    changes = [{"seq": s, "alert_id": alert_id, "action": action,
                "alert": dict(zip(cols, alert, strict=True))}
               for s, _age, alert_id, action, *alert in rows if alert[0] is not None]
    return FeedPage(rows[-1][0] if rows else seq, changes, len(rows) == limit)


def detail(conn: psycopg.Connection[Any], alert: dict[str, Any],
           access: Access) -> dict[str, Any]:
    """Everything the operator needs: residents' cards, contacts, devices, timeline, dispatches,
    the alert's details (a phone-in's caller and reason). ``access``: who reads it (the health
    details and phone numbers are sensitive reads, ``server.directory.sensitive``)."""
    residents = ([asdict(r) for r in resident_cards(conn, alert["home_id"], access)]
                 if alert["home_id"] else [])
    home = None
    if alert["home_id"]:
        cur = conn.execute("SELECT id, address, notes, key_safe_code IS NOT NULL AS has_key_safe "
                           "FROM homes WHERE id = %s", (alert["home_id"],))
        home = _rows(cur)[0]
    devices = _rows(conn.execute(
        "SELECT uid, model, kind, label, resident_id, last_seen, battery_pct, battery_mv, "
        "false AS unknown, NULL::boolean AS pressed "
        "FROM devices WHERE gateway_id = %s AND unpaired_at IS NULL ORDER BY uid",
        (alert["gateway_id"],)))
    devices += unknown_devices(conn, alert["id"])
    row = conn.execute("SELECT details FROM alerts WHERE id = %s", (alert["id"],)).fetchone()
    return {**alert, "home": home, "residents": residents,
            "details": row[0] if row else {},
            "contacts": _contacts(conn, [r["id"] for r in residents], access),
            "devices": devices, "timeline": timeline(conn, alert["id"]),
            "dispatches": _rows(conn.execute(
                "SELECT id, kind, target, status, created_at, updated_at FROM dispatches "
                "WHERE alert_id = %s ORDER BY id", (alert["id"],)))}


def _contacts(conn: psycopg.Connection[Any], resident_ids: list[int],
              access: Access) -> list[dict[str, Any]]:
    """Contacts with phones of the residents who consent to sharing with family; the others'
    without (``withheld``: an emergency override shows them)."""
    shared = consent.sharing(conn, resident_ids, consent.Scope.SHARE_FAMILY)
    found = [{**asdict(c), "withheld": False}
             for c in contacts_for(conn, shared, access)] if shared else []
    others = [r for r in resident_ids if r not in shared]
    found += contacts_withheld(conn, others) if others else []
    order = {r: i for i, r in enumerate(resident_ids)}
    return sorted(found, key=lambda c: order[c["resident_id"]])


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


def of_resident(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                limit: int = 100) -> list[dict[str, Any]]:
    """A resident's alerts in ``scope`` (theirs, or their home's without a resident): the
    active ones first, then the newest."""
    return _rows(conn.execute(_summaries(
        sql.SQL("(a.resident_id = %s OR (a.resident_id IS NULL AND a.home_id = (SELECT home_id "
                "FROM residents WHERE id = %s))) AND {}").format(_visible(scope)),
        sql.SQL(" ORDER BY a.state IN ('open', 'claimed', 'dispatched') DESC, a.id DESC "
                "LIMIT %s")), (resident_id, resident_id, limit)))


def calls_and_notes(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Calls logged and notes written on a resident's alerts (in ``scope``), newest first."""
    return _rows(conn.execute(sql.SQL(
        "SELECT au.alert_id, au.ts, au.actor, au.action, au.note, au.data, a.type "
        "FROM alert_audit au JOIN alerts a ON a.id = au.alert_id "
        "WHERE au.action IN ('call', 'note', 'phone_in') AND a.resident_id = %s AND {} "
        "ORDER BY au.id DESC LIMIT %s").format(_visible(scope)), (resident_id, limit)))
