"""Technicians' work orders: a device that missed its self-test (``self_tests``) or went silent
(supervision sets ``devices.silent_since``) gets one, due ``work_order_due`` after it opens
(a faulty alarm device is to be substituted within 2 h). One open order per device and reason;
once closed, the same cause opens a new one only when it happens again (a later missed cycle,
a new silence). ``open`` → ``claimed`` (by a technician) → ``closed`` (with a note); each step
is audited (``maintenance.audit``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from server.auth.users import User
from server.directory.records import fetch
from server.errors import Conflict, NotFound
from server.maintenance import audit
from server.maintenance.alarm_devices import ALARM_MODELS
from server.maintenance.self_tests import LAST_TEST
from server.scope import Scope
from server.settings import Settings

log = logging.getLogger(__name__)
REASONS = ("self_test_missed", "device_silent")


@dataclass(frozen=True, slots=True)
class WorkOrder:
    id: int
    device: str
    gateway_id: str | None
    label: str | None
    address: str | None
    reason: str
    state: str
    created_at: datetime
    due_at: datetime
    overdue: bool
    claimed_by: str | None
    claimed_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    note: str


_SELECT = sql.SQL(
    "SELECT w.id, w.device, w.gateway_id, d.label, h.address, w.reason, w.state, w.created_at, "
    "w.due_at, (w.state <> 'closed' AND w.due_at < now()) AS overdue, w.claimed_by, "
    "w.claimed_at, w.closed_by, w.closed_at, w.note FROM work_orders w "
    "LEFT JOIN devices d ON d.uid = w.device LEFT JOIN gateways g ON g.id = w.gateway_id "
    "LEFT JOIN homes h ON h.id = g.home_id ")

# Devices whose self-test is missed (last test + period + grace passed), with no order opened
# since it fell due; devices silent with no order opened since they went silent.
_MISSED = sql.SQL(
    "SELECT d.uid, d.gateway_id FROM devices d WHERE d.gateway_id IS NOT NULL "
    "AND d.model = ANY ({models}) "
    "AND coalesce({last}, d.paired_at) + %(period)s + %(grace)s < now() "
    "AND NOT EXISTS (SELECT 1 FROM work_orders w WHERE w.device = d.uid AND w.reason = "
    "'self_test_missed' AND w.created_at >= coalesce({last}, d.paired_at) + %(period)s)"
).format(models=sql.Literal(ALARM_MODELS), last=LAST_TEST)
_SILENT = (
    "SELECT d.uid, d.gateway_id FROM devices d WHERE d.gateway_id IS NOT NULL "
    "AND d.silent_since IS NOT NULL AND NOT EXISTS (SELECT 1 FROM work_orders w "
    "WHERE w.device = d.uid AND w.reason = 'device_silent' AND w.created_at >= d.silent_since)")


def open_due(conn: psycopg.Connection[Any], settings: Settings) -> list[int]:
    """Open the orders now due (the periodic check); returns the new orders' ids."""
    opened = []
    with conn.transaction():
        found = [(u, g, "self_test_missed") for u, g in conn.execute(_MISSED, {
            "period": settings.self_test_period, "grace": settings.self_test_grace}).fetchall()]
        found += [(u, g, "device_silent") for u, g in conn.execute(_SILENT).fetchall()]
        for uid, gw, reason in found:
            row = conn.execute(
                "INSERT INTO work_orders (device, gateway_id, reason, due_at) VALUES "
                "(%s, %s, %s, now() + %s) ON CONFLICT (device, reason) WHERE state <> 'closed' "
                "DO NOTHING RETURNING id", (uid, gw, reason, settings.work_order_due)).fetchone()
            if row is not None:
                audit.record(conn, None, "open", "work_order", row[0], device=uid, reason=reason)
                log.warning("work order %s: device %s (%s)", row[0], uid, reason)
                opened.append(int(row[0]))
    return opened


def listing(conn: psycopg.Connection[Any], scope: Scope, *, state: str | None = None,
            limit: int = 200) -> list[WorkOrder]:
    """Orders in scope: open and claimed first (earliest due first), then closed, newest."""
    cond = sql.SQL("TRUE") if state is None else sql.SQL("w.state = {}").format(
        sql.Literal(state))
    return fetch(conn, WorkOrder, _SELECT + sql.SQL(
        "WHERE {} AND {} ORDER BY (w.state = 'closed'), CASE WHEN w.state <> 'closed' THEN "
        "w.due_at END, w.closed_at DESC, w.id DESC LIMIT %s").format(
            cond, scope.where("h.region_id", unplaced=True)), (limit,))


def get(conn: psycopg.Connection[Any], scope: Scope, order_id: int) -> WorkOrder:
    found = fetch(conn, WorkOrder, _SELECT + sql.SQL("WHERE w.id = %s AND {}").format(
        scope.where("h.region_id", unplaced=True)), (order_id,))
    if not found:
        raise NotFound(f"no work order {order_id}")
    return found[0]


def claim(conn: psycopg.Connection[Any], actor: User, order_id: int) -> WorkOrder:
    """The technician takes the order (an open one; their own claim again is a no-op)."""
    scope = Scope.of(actor)
    with conn.transaction():
        order = get(conn, scope, order_id)
        if order.state == "closed" or (order.state == "claimed"
                                       and order.claimed_by != actor.username):
            raise Conflict(f"work order {order_id} is {order.state}"
                           + (f" by {order.claimed_by}" if order.claimed_by else ""))
        if order.state == "open":
            conn.execute("UPDATE work_orders SET state = 'claimed', claimed_by = %s, "
                         "claimed_at = now() WHERE id = %s", (actor.username, order_id))
            audit.record(conn, actor, "claim", "work_order", order_id)
    return get(conn, scope, order_id)


def close(conn: psycopg.Connection[Any], actor: User, order_id: int, note: str) -> WorkOrder:
    """Close the order with what was done (audited)."""
    scope = Scope.of(actor)
    with conn.transaction():
        order = get(conn, scope, order_id)
        if order.state == "closed":
            raise Conflict(f"work order {order_id} is closed already")
        conn.execute("UPDATE work_orders SET state = 'closed', closed_by = %s, closed_at = now(), "
                     "note = %s, claimed_by = coalesce(claimed_by, %s), claimed_at = "
                     "coalesce(claimed_at, now()) WHERE id = %s",
                     (actor.username, note, actor.username, order_id))
        audit.record(conn, actor, "close", "work_order", order_id, note=note)
    return get(conn, scope, order_id)


def history(conn: psycopg.Connection[Any], scope: Scope, order_id: int) -> list[dict[str, Any]]:
    get(conn, scope, order_id)
    return audit.entries(conn, "work_order", order_id)
