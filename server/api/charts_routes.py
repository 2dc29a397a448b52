"""Data behind the console's charts: vital signs and activity of 24 h, the signal around a fall
(``server.charts``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query

from server import charts
from server.api.deps import CurrentUser, Db
from server.api.errors import RESPONSES
from server.api.types import Id
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["charts"], responses=RESPONSES)


@router.get("/residents/{resident_id}/vitals")
def vitals(resident_id: Id, user: CurrentUser, conn: Db,
           hours: float = Query(default=24, gt=0, le=24 * 31)) -> dict[str, Any]:
    """Heart rate and SpO2 readings of the resident's wearables (readings without skin
    contact are marked, so the chart can leave them out)."""
    rows = charts.resident_vitals(conn, Scope.of(user), resident_id, hours)
    return {"resident_id": resident_id, "hours": hours,
            "readings": [{"device": r.device, "ts": r.ts, "hr": r.hr, "spo2": r.spo2,
                          "contact": r.contact} for r in rows]}


@router.get("/residents/{resident_id}/activity")
def activity(resident_id: Id, user: CurrentUser, conn: Db,
             hours: float = Query(default=24, gt=0, le=24 * 31)) -> dict[str, Any]:
    rows = charts.resident_activity(conn, Scope.of(user), resident_id, hours)
    return {"resident_id": resident_id, "hours": hours,
            "minutes": [{"device": r.device, "minute": r.minute, "count": r.count,
                         "source": r.source} for r in rows]}


@router.get("/alerts/{alert_id}/acc")
def acc_trace(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """|a| in g around the alert's first event (−20 s … +40 s), at most 1200 points."""
    return asdict(charts.fall_trace(conn, Scope.of(user), alert_id))
