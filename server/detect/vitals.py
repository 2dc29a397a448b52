"""Vital-sign breaches over the last hour of readings, per resident, as P2 alerts.

The analytics evaluate a window of readings (not a stream), so every pass re-reads the last hour;
a breach is raised once, keyed by (resident, kind, start of its run).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np
import psycopg

from analytics.vitals import VitalLimits, evaluate_vitals
from server.alerts import service
from server.alerts.context import contexts
from server.alerts.model import AlertType, Priority

log = logging.getLogger(__name__)

_READINGS = """
SELECT d.resident_id, d.uid, r.vital_limits, extract(epoch FROM v.ts)::float8, v.hr, v.spo2,
       v.contact
FROM vitals v JOIN devices d ON d.uid = v.device JOIN residents r ON r.id = d.resident_id
WHERE v.ts > now() - interval '1 hour'
ORDER BY d.resident_id, v.ts
"""


def _rows(values: list[list[float]], width: int, fill: float) -> np.ndarray:
    return np.array([v + [fill] * (width - len(v)) for v in values], dtype=np.float64)


def vitals_pass(conn: psycopg.Connection[Any], raised: set[tuple[int, str, float]],
                default: VitalLimits | None = None) -> list[int]:
    """Raise an alert for every breach that started and was not raised before."""
    per: dict[int, dict[str, Any]] = defaultdict(lambda: {"t": [], "hr": [], "spo2": [],
                                                          "contact": [], "device": None})
    limits: dict[int, dict[str, float]] = {}
    for resident, device, over, t, hr, spo2, contact in conn.execute(_READINGS):
        row = per[resident]
        row["device"] = device
        limits[resident] = dict(over or {})
        row["t"].append(t)
        row["hr"].append(np.nan if hr is None else hr)
        row["spo2"].append(np.nan if spo2 is None else spo2)
        row["contact"].append(1.0 if contact is not False else 0.0)  # None: not reported
    if not per:
        return []
    residents = list(per)
    width = max(len(per[r]["t"]) for r in residents)
    t = np.array([per[r]["t"] + [per[r]["t"][-1] + 1e-3 * (i + 1)
                                 for i in range(width - len(per[r]["t"]))] for r in residents])
    base = default or VitalLimits()
    table = [base.override(**limits[r]) for r in residents]
    events = evaluate_vitals(t, _rows([per[r]["hr"] for r in residents], width, np.nan),
                             _rows([per[r]["spo2"] for r in residents], width, np.nan),
                             _rows([per[r]["contact"] for r in residents], width, 0.0),
                             table, residents)
    touched = []
    for e in events:
        key = (int(e.resident), e.kind.value, e.t_since)
        if not e.active or key in raised:
            continue
        raised.add(key)
        ctx = contexts(conn, [per[int(e.resident)]["device"]])
        context = next(iter(ctx.values()))
        log.warning("vital signs: resident %s %s %.0f since %.0f", e.resident, e.kind.value,
                    e.value, e.t_since)
        with conn.transaction():
            touched.append(service.raise_alert(conn, AlertType.VITALS, Priority.P2, context, {
                "kind": e.kind.value, "value": round(e.value, 1), "since": e.t_since}).alert.id)
    return touched
