"""From stored events (and detector findings, presence, supervision) to alert actions.

Runs inside the transaction that stores the events, so an alarm is never committed without its
alert. Which alert an event raises (``EVENT_ALERTS``) and where it belongs is decided here; the
actions themselves — open or attach, cancel, auto-resolve — are the alert service's
(``server.alerts.service``), as for every other caller. Correlation: one active alert per
incident key (``server.alerts.context``); a repeat attaches to it (bump); after resolution the
next one opens a new alert. A press or cancel that answered a prompt, and a fall found twice,
are ``server.alerts.answers``' to place; a press that passes an open installation test is
``server.maintenance.installation``'s (no alert).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg

from kernel.contract import Event, EventType
from server.alerts import answers, service
from server.alerts.context import Context, contexts, gateway_context
from server.alerts.model import ACTIVE, AlertType, Priority
from server.maintenance import installation

log = logging.getLogger(__name__)

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

_OFFLINE_DUE = """
SELECT id FROM gateways g WHERE state = 'offline'
  AND state_since < now() - make_interval(secs => %s) AND NOT EXISTS (
    SELECT 1 FROM alerts a WHERE a.gateway_id = g.id AND a.type = %s AND a.state = ANY (%s))
"""

_BACK = """
SELECT a.id FROM alerts a JOIN gateways g ON g.id = a.gateway_id
WHERE a.type = %s AND a.state = ANY (%s) AND g.state = 'online'
UNION SELECT a.id FROM alerts a JOIN devices d ON d.uid = a.device
WHERE a.type = %s AND a.state = ANY (%s) AND d.silent_since IS NULL
"""


def on_events(conn: psycopg.Connection[Any], events: Sequence[Event]) -> list[int]:
    """Alerts for newly stored events (the ingest's hook); returns the alert ids touched."""
    relevant = [e for e in events if e.type in EVENT_ALERTS or e.type == EventType.CANCEL]
    if not relevant:
        return []
    ctx = contexts(conn, sorted({e.device for e in relevant}))
    touched = []
    for e in relevant:
        # a device is known where its gateway reports it: one paired elsewhere (a forged or
        # misrouted event) is alerted at the reporting gateway's home, never at the other
        known = e.device in ctx and ctx[e.device].gateway_id == e.gw
        c = ctx[e.device] if known else unknown_device_context(conn, e)
        answered = answers.answer(conn, e)
        if answered is not None:
            touched += answered
            continue
        if installation.take(conn, e) is not None:
            continue  # an installation test's press: recorded there, never in the queue
        if e.type == EventType.CANCEL:
            cancelled = service.cancel(conn, c, e.id, e.device)
            touched += [cancelled.id] if cancelled is not None else []
            continue
        if e.type == EventType.TAMPER and e.data.get("open") is False:
            continue  # the case was closed again: nothing to raise
        kind, priority = EVENT_ALERTS[e.type]
        details: dict[str, Any] = {"event_type": e.type.value, **e.data}
        details.pop(UNKNOWN_DEVICE, None)  # the server's to say, not the payload's
        if not known:
            details[UNKNOWN_DEVICE] = True
        if e.type == EventType.FALL:
            touched.append(answers.fall(conn, e, c, details))
            continue
        touched.append(service.raise_alert(conn, kind, priority, c, details,
                                           event_id=e.id).alert.id)
    return touched


def unknown_device_context(conn: psycopg.Connection[Any], event: Event) -> Context:
    """A device the server does not know at this gateway (not paired here, paired at the
    gateway only, or paired at another gateway): its alert belongs to the gateway's home and
    region, so that region's operators see it.
    Where the gateway has no home either, the alert has no region: every operator sees it."""
    log.warning("event %s: device %s is not known to the server; the alert goes to gateway "
                "%s's home", event.id, event.device, event.gw)
    return replace(gateway_context(conn, event.gw), device=event.device)


def raise_dead_letter_alert(conn: psycopg.Connection[Any], gateway: str, etype: EventType,
                            device: str | None, details: dict[str, Any]) -> int:
    """An alarm-type event the ingest could not store (a dead letter) still reaches a human: its
    alert (P1 panic or fall, as ``etype`` says) at the device's place when the device is known
    on ``gateway``, else at the gateway's. ``device`` must be storable text (or None)."""
    ctx = contexts(conn, [device]).get(device) if device is not None else None
    if ctx is None or ctx.gateway_id != gateway:
        ctx = replace(gateway_context(conn, gateway), device=device)
    kind, priority = EVENT_ALERTS[etype]
    return service.raise_alert(conn, kind, priority, ctx, details).alert.id


def sync_technical(conn: psycopg.Connection[Any], offline_grace_s: float) -> list[int]:
    """Open gateway-offline alerts after ``offline_grace_s``; clear them (and silent-device
    alerts) when the gateway or device is back. Returns the alerts touched."""
    touched = []
    active = [s.value for s in ACTIVE]
    for (gw,) in conn.execute(_OFFLINE_DUE, (offline_grace_s, AlertType.GATEWAY_OFFLINE.value,
                                            active)).fetchall():
        touched.append(service.raise_alert(conn, AlertType.GATEWAY_OFFLINE, Priority.P3,
                                           gateway_context(conn, gw),
                                           {"since_s": offline_grace_s}).alert.id)
    back = conn.execute(_BACK, (AlertType.GATEWAY_OFFLINE.value, active,
                                AlertType.DEVICE_SILENT.value, active)).fetchall()
    for (alert_id,) in back:
        service.auto_resolve(conn, alert_id, reason="back_online", note="back online")
        touched.append(alert_id)
    return touched
