"""Data behind the console's charts: vital signs and activity of 24 h, the signal around a fall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from server.api.alerts_routes import visible
from server.api.deps import CurrentUser, Db, region_filter
from server.api.errors import RESPONSES
from server.api.types import Id
from server.store import acc_window, recent_activity, recent_vitals

router = APIRouter(prefix="/api", tags=["charts"], responses=RESPONSES)
TRACE_BEFORE_S, TRACE_AFTER_S, TRACE_POINTS = 20.0, 40.0, 1200


def _resident_devices(conn: Db, user: Any, resident_id: int) -> list[str]:
    where, args = region_filter(user, "h.region_id")
    row = conn.execute(f"SELECT 1 FROM residents r JOIN homes h ON h.id = r.home_id "
                       f"WHERE r.id = %s AND {where}", [resident_id, *args]).fetchone()
    if row is None:
        raise HTTPException(404, f"no resident {resident_id}")
    return [r[0] for r in conn.execute("SELECT uid FROM devices WHERE resident_id = %s "
                                       "AND kind = 'wearable' ORDER BY uid", (resident_id,))]


@router.get("/residents/{resident_id}/vitals")
def vitals(resident_id: Id, user: CurrentUser, conn: Db,
           hours: float = Query(default=24, gt=0, le=24 * 31)) -> dict[str, Any]:
    """Heart rate and SpO2 readings of the resident's wearables (readings without skin
    contact are marked, so the chart can leave them out)."""
    out = []
    for device in _resident_devices(conn, user, resident_id):
        out += [{"device": r.device, "ts": r.ts, "hr": r.hr, "spo2": r.spo2,
                 "contact": r.contact} for r in recent_vitals(conn, device, hours)]
    return {"resident_id": resident_id, "hours": hours, "readings": out}


@router.get("/residents/{resident_id}/activity")
def activity(resident_id: Id, user: CurrentUser, conn: Db,
             hours: float = Query(default=24, gt=0, le=24 * 31)) -> dict[str, Any]:
    out = []
    for device in _resident_devices(conn, user, resident_id):
        out += [{"device": r.device, "minute": r.minute, "count": r.count, "source": r.source}
                for r in recent_activity(conn, device, hours)]
    return {"resident_id": resident_id, "hours": hours, "minutes": out}


@router.get("/alerts/{alert_id}/acc")
def acc_trace(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """|a| in g around the alert's first event (−20 s … +40 s), at most 1200 points."""
    alert = visible(conn, user, alert_id)
    if not alert["device"] or not alert["device"].startswith("ble-"):
        raise HTTPException(404, "this alert has no accelerometer")
    row = conn.execute("SELECT min(e.ts) FROM alert_events ae JOIN events e ON e.id = "
                       "ae.event_id WHERE ae.alert_id = %s", (alert_id,)).fetchone()
    at: datetime = row[0] if row and row[0] else alert["opened_at"]
    series = acc_window(conn, alert["device"], at - timedelta(seconds=TRACE_BEFORE_S + 2),
                        at + timedelta(seconds=TRACE_AFTER_S))
    if not len(series):
        return {"device": alert["device"], "at": at, "t": [], "g": []}
    t = series.times_us() / 1e6 - at.timestamp()
    g = np.linalg.norm(series.g(), axis=1)
    keep = (t >= -TRACE_BEFORE_S) & (t <= TRACE_AFTER_S)
    t, g = t[keep], g[keep]
    step = max(1, len(t) // TRACE_POINTS)
    return {"device": alert["device"], "at": at.astimezone(UTC),
            "t": np.round(t[::step], 3).tolist(), "g": np.round(g[::step], 3).tolist()}
