"""Data behind the console's charts: a resident's vital signs and activity, the signal around
a fall. Every read is limited to the reader's scope (NotFound outside it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from server.directory import wearables_of
from server.errors import NotFound
from server.scope import Scope
from server.store import acc_window, recent_activity, recent_vitals
from server.store.reads import ActivityRow, VitalRow

TRACE_BEFORE_S, TRACE_AFTER_S, TRACE_POINTS = 20.0, 40.0, 1200


@dataclass(frozen=True, slots=True)
class AccTrace:
    """|a| in g of ``device`` at ``t`` seconds from ``at`` (the alert's first event)."""

    device: str
    at: datetime
    t: list[float]
    g: list[float]


def resident_vitals(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                    hours: float) -> list[VitalRow]:
    """Readings of the last ``hours`` of the resident's wearables, by device, oldest first."""
    return [r for device in wearables_of(conn, scope, resident_id)
            for r in recent_vitals(conn, device, hours)]


def resident_activity(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                      hours: float) -> list[ActivityRow]:
    """Activity minutes of the last ``hours`` of the resident's wearables, by device."""
    return [r for device in wearables_of(conn, scope, resident_id)
            for r in recent_activity(conn, device, hours)]


def fall_trace(conn: psycopg.Connection[Any], scope: Scope, alert_id: int) -> AccTrace:
    """The alert's wearable signal from −20 s to +40 s around its first event (or its opening),
    at most 1200 points; NotFound for an alert out of scope or without an accelerometer."""
    row = conn.execute(sql.SQL(
        "SELECT a.device, coalesce((SELECT min(e.ts) FROM alert_events ae JOIN events e "
        "ON e.id = ae.event_id WHERE ae.alert_id = a.id), a.opened_at) "
        "FROM alerts a WHERE a.id = %s AND {}").format(
            scope.where("a.region_id", unplaced=True)), (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    device: str | None = row[0]
    at: datetime = row[1].astimezone(UTC)
    if not device or not device.startswith("ble-"):
        raise NotFound("this alert has no accelerometer")
    series = acc_window(conn, device, at - timedelta(seconds=TRACE_BEFORE_S + 2),
                        at + timedelta(seconds=TRACE_AFTER_S))
    if not len(series):
        return AccTrace(device, at, [], [])
    t = series.times_us() / 1e6 - at.timestamp()
    g = np.linalg.norm(series.g(), axis=1)
    keep = (t >= -TRACE_BEFORE_S) & (t <= TRACE_AFTER_S)
    t, g = t[keep], g[keep]
    step = max(1, math.ceil(len(t) / TRACE_POINTS))
    return AccTrace(device, at, np.round(t[::step], 3).tolist(), np.round(g[::step], 3).tolist())
