"""From stored events (and detector findings, presence, supervision) to alerts.

Runs inside the transaction that stores the events, so an alarm is never committed without its
alert. Correlation: one active alert per incident key; a repeat attaches to it (bump); after
resolution the next one opens a new alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from kernel.contract import Event, EventType
from server.alerts.machine import audit, transition
from server.alerts.model import ACTIVE, SYSTEM, Action, AlertType, Priority, State

log = logging.getLogger(__name__)

CANCEL_WINDOW_S = 30.0
UNKNOWN_DEVICE = "unknown_device"  # details key: the alert's device is not known to the server

EVENT_ALERTS: dict[EventType, tuple[AlertType, Priority]] = {
    EventType.PRESS: (AlertType.PANIC, Priority.P1),
    EventType.LONG_PRESS: (AlertType.PANIC, Priority.P1),
    EventType.FALL: (AlertType.FALL, Priority.P1),
    EventType.LOW_BATTERY: (AlertType.LOW_BATTERY, Priority.P3),
    EventType.TAMPER: (AlertType.TAMPER, Priority.P3),
    EventType.DEVICE_SILENT: (AlertType.DEVICE_SILENT, Priority.P3),
    EventType.SENSOR_FAULT: (AlertType.SENSOR_FAULT, Priority.P3),
    EventType.TEST: (AlertType.TEST, Priority.TEST),
}
PERSONAL = frozenset({AlertType.PANIC, AlertType.FALL, AlertType.VITALS, AlertType.INACTIVITY})

_CONTEXT = """
SELECT d.uid, d.resident_id, g.id, g.home_id, h.region_id, r.name, h.address,
       r.care_tags, r.birth_date
FROM devices d LEFT JOIN gateways g ON g.id = d.gateway_id
     LEFT JOIN homes h ON h.id = g.home_id LEFT JOIN residents r ON r.id = d.resident_id
WHERE d.uid = ANY (%s)
"""

_GATEWAY_CONTEXT = """
SELECT g.id, g.home_id, h.region_id, h.address FROM gateways g
LEFT JOIN homes h ON h.id = g.home_id WHERE g.id = %s
"""


@dataclass(frozen=True, slots=True)
class Context:
    """Where an alert belongs: resident, home, region, gateway, device."""

    gateway_id: str | None = None
    device: str | None = None
    resident_id: int | None = None
    home_id: int | None = None
    region_id: int | None = None
    resident: str | None = None
    address: str | None = None
    care_tags: tuple[str, ...] = ()
    birth_date: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def correlation(self, kind: AlertType) -> str:
        if kind in PERSONAL:
            if self.resident_id is not None:
                return f"resident:{self.resident_id}:{kind.value}"
            if self.home_id is not None:
                return f"home:{self.home_id}:{kind.value}"
            return f"gateway:{self.gateway_id}:{kind.value}"
        if kind == AlertType.GATEWAY_OFFLINE:
            return f"gateway:{self.gateway_id}:{kind.value}"
        return f"device:{self.device}:{kind.value}"


def raised_priority(priority: Priority, ctx: Context, today: date | None = None) -> Priority:
    """Care tags raise P2 to P1: 失能 (disabled), or 80+ (高龄 / birth date) and 独居 (alone)."""
    if priority != Priority.P2:
        return priority
    today = today or date.today()
    aged = "高龄" in ctx.care_tags or (
        ctx.birth_date is not None and (today - ctx.birth_date).days >= 80 * 365.25)
    if "失能" in ctx.care_tags or (aged and "独居" in ctx.care_tags):
        return Priority.P1
    return priority


def contexts(conn: psycopg.Connection[Any], devices: Sequence[str]) -> dict[str, Context]:
    out = {}
    for uid, res, gw, home, region, name, address, tags, born in conn.execute(
            _CONTEXT, (list(devices),)):
        out[uid] = Context(gw, uid, res, home, region, name, address, tuple(tags or ()), born)
    return out


def resident_context(conn: psycopg.Connection[Any], resident: int) -> Context:
    row = conn.execute(
        "SELECT r.id, r.home_id, h.region_id, r.name, h.address, r.care_tags, r.birth_date, "
        "(SELECT g.id FROM gateways g WHERE g.home_id = r.home_id ORDER BY g.id LIMIT 1) "
        "FROM residents r JOIN homes h ON h.id = r.home_id WHERE r.id = %s",
        (resident,)).fetchone()
    if row is None:
        return Context(resident_id=resident)
    return Context(gateway_id=row[7], resident_id=row[0], home_id=row[1], region_id=row[2],
                   resident=row[3], address=row[4], care_tags=tuple(row[5] or ()),
                   birth_date=row[6])


def gateway_context(conn: psycopg.Connection[Any], gateway: str) -> Context:
    row = conn.execute(_GATEWAY_CONTEXT, (gateway,)).fetchone()
    if row is None:
        return Context(gateway_id=gateway)
    return Context(gateway_id=row[0], home_id=row[1], region_id=row[2], address=row[3])


def on_events(conn: psycopg.Connection[Any], events: Sequence[Event]) -> list[int]:
    """Alerts for newly stored events (the ingest's hook); returns the alert ids touched."""
    relevant = [e for e in events if e.type in EVENT_ALERTS or e.type == EventType.CANCEL]
    if not relevant:
        return []
    ctx = contexts(conn, sorted({e.device for e in relevant}))
    touched = []
    for e in relevant:
        known = e.device in ctx
        c = ctx[e.device] if known else unknown_device_context(conn, e)
        if e.type == EventType.CANCEL:
            touched += cancel(conn, c, e)
            continue
        if e.type == EventType.TAMPER and e.data.get("open") is False:
            continue  # the case was closed again: nothing to raise
        kind, priority = EVENT_ALERTS[e.type]
        details: dict[str, Any] = {"event_type": e.type.value, **e.data}
        details.pop(UNKNOWN_DEVICE, None)  # the server's to say, not the payload's
        if not known:
            details[UNKNOWN_DEVICE] = True
        touched.append(raise_alert(conn, kind, priority, c, details, event_id=e.id))
    return touched


def unknown_device_context(conn: psycopg.Connection[Any], event: Event) -> Context:
    """A device the server does not know (not paired here, or paired at the gateway only):
    its alert belongs to the gateway's home and region, so that region's operators see it.
    Where the gateway has no home either, the alert has no region: every operator sees it."""
    log.warning("event %s: device %s is not known to the server; the alert goes to gateway "
                "%s's home", event.id, event.device, event.gw)
    return replace(gateway_context(conn, event.gw), device=event.device)


def raise_alert(conn: psycopg.Connection[Any], kind: AlertType, priority: Priority, ctx: Context,
                details: dict[str, Any] | None = None, *, event_id: str | None = None) -> int:
    """Open an alert for an incident, or attach to the active one for the same incident."""
    priority = raised_priority(priority, ctx)
    correlation = ctx.correlation(kind)
    title = ctx.resident or ctx.address or ctx.device or ctx.gateway_id or kind.value
    row = conn.execute(
        "INSERT INTO alerts (type, priority, correlation, region_id, home_id, resident_id, "
        "gateway_id, device, title, details, event_count, first_event_at, last_event_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, now(), now()) "
        "ON CONFLICT (correlation) WHERE state IN ('open', 'claimed', 'dispatched') DO NOTHING "
        "RETURNING id",
        (kind.value, priority.value, correlation, ctx.region_id, ctx.home_id, ctx.resident_id,
         ctx.gateway_id, ctx.device, title, Jsonb(details or {}))).fetchone()
    if row is not None:
        alert_id = int(row[0])
        audit(conn, alert_id, SYSTEM, Action.OPEN, State.OPEN, State.OPEN,
              data={"event": event_id, "priority": priority.value})
    else:
        found = conn.execute("SELECT id FROM alerts WHERE correlation = %s AND state = ANY (%s)",
                             (correlation, [s.value for s in ACTIVE])).fetchone()
        assert found is not None
        alert_id = int(found[0])
        transition(conn, alert_id, Action.BUMP, SYSTEM, data={"event": event_id})
    if event_id is not None:
        conn.execute("INSERT INTO alert_events VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (alert_id, event_id))
    return alert_id


def raise_dead_letter_alert(conn: psycopg.Connection[Any], gateway: str, etype: EventType,
                            device: str | None, details: dict[str, Any]) -> int:
    """An alarm-type event the ingest could not store (a dead letter) still reaches a human: its
    alert (P1 panic or fall, as ``etype`` says) at the device's place when the device is known
    on ``gateway``, else at the gateway's. ``device`` must be storable text (or None)."""
    ctx = contexts(conn, [device]).get(device) if device is not None else None
    if ctx is None or ctx.gateway_id != gateway:
        ctx = replace(gateway_context(conn, gateway), device=device)
    kind, priority = EVENT_ALERTS[etype]
    return raise_alert(conn, kind, priority, ctx, details)


def cancel(conn: psycopg.Connection[Any], ctx: Context, event: Event) -> list[int]:
    """The resident pressed cancel: within the window an open panic alert raised by this device
    alone is cancelled; otherwise the cancel is recorded on it for the operator to judge."""
    row = conn.execute(
        "SELECT a.id, a.state, extract(epoch FROM now() - a.opened_at), NOT EXISTS ("
        " SELECT 1 FROM alert_events ae JOIN events e ON e.id = ae.event_id"
        " WHERE ae.alert_id = a.id AND e.device <> %s AND e.type <> 'cancel') "
        "FROM alerts a WHERE a.correlation = %s AND a.state = ANY (%s)",
        (event.device, ctx.correlation(AlertType.PANIC), [s.value for s in ACTIVE])).fetchone()
    if row is None:
        return []
    alert_id, state, age, own = int(row[0]), State(row[1]), float(row[2]), bool(row[3])
    conn.execute("INSERT INTO alert_events VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (alert_id, event.id))
    if state == State.OPEN and age <= CANCEL_WINDOW_S and own:
        transition(conn, alert_id, Action.CANCEL, SYSTEM,
                   data={"event": event.id, "reason": "resident_cancel"},
                   note="resident pressed cancel")
    else:
        transition(conn, alert_id, Action.NOTE, SYSTEM,
                   data={"event": event.id, "reason": "late_cancel", "seconds": round(age)},
                   note=f"resident pressed cancel {age:.0f} s after the alarm")
    return [alert_id]


def sync_technical(conn: psycopg.Connection[Any], offline_grace_s: float) -> list[int]:
    """Open gateway-offline alerts after ``offline_grace_s``; clear them (and silent-device
    alerts) when the gateway or device is back. Returns the alerts touched."""
    touched = []
    for (gw,) in conn.execute(
            "SELECT id FROM gateways g WHERE state = 'offline' "
            "AND state_since < now() - make_interval(secs => %s) AND NOT EXISTS ("
            "SELECT 1 FROM alerts a WHERE a.gateway_id = g.id AND a.type = %s "
            "AND a.state = ANY (%s))",
            (offline_grace_s, AlertType.GATEWAY_OFFLINE.value,
             [s.value for s in ACTIVE])).fetchall():
        touched.append(raise_alert(conn, AlertType.GATEWAY_OFFLINE, Priority.P3,
                                   gateway_context(conn, gw), {"since_s": offline_grace_s}))
    cleared = conn.execute(
        "SELECT a.id FROM alerts a JOIN gateways g ON g.id = a.gateway_id "
        "WHERE a.type = %s AND a.state = ANY (%s) AND g.state = 'online' "
        "UNION SELECT a.id FROM alerts a JOIN devices d ON d.uid = a.device "
        "WHERE a.type = %s AND a.state = ANY (%s) AND d.silent_since IS NULL",
        (AlertType.GATEWAY_OFFLINE.value, [s.value for s in ACTIVE],
         AlertType.DEVICE_SILENT.value, [s.value for s in ACTIVE])).fetchall()
    for (alert_id,) in cleared:
        transition(conn, alert_id, Action.AUTO_RESOLVE, SYSTEM, data={"reason": "back_online"},
                   note="back online")
        touched.append(alert_id)
    return touched
