"""Escalation: P1/P2 alerts nobody claimed within N s; reminders for claimed ones left open.

Safe on every server replica at once: each alert is escalated (or reminded) by the first
transaction that locks it; the others skip it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from server.alerts.machine import transition
from server.alerts.model import SYSTEM, Action

_UNCLAIMED = """
SELECT id FROM alerts WHERE state = 'open' AND NOT escalated AND priority IN ('P1', 'P2')
  AND opened_at < now() - make_interval(secs => %s)
ORDER BY opened_at FOR UPDATE SKIP LOCKED
"""

_FORGOTTEN = """
SELECT id FROM alerts WHERE state IN ('claimed', 'dispatched') AND priority IN ('P1', 'P2')
  AND coalesce(reminded_at, claimed_at) < now() - make_interval(secs => %s)
ORDER BY claimed_at FOR UPDATE SKIP LOCKED
"""


def escalate(conn: psycopg.Connection[Any], unclaimed_s: float, remind_s: float,
             ) -> tuple[list[int], list[int]]:
    """One pass; returns (escalated, reminded) alert ids."""
    with conn.transaction():
        escalated = [r[0] for r in conn.execute(_UNCLAIMED, (unclaimed_s,)).fetchall()]
        for alert_id in escalated:
            transition(conn, alert_id, Action.ESCALATE, SYSTEM,
                       data={"reason": "unclaimed", "seconds": round(unclaimed_s)},
                       note=f"not claimed within {unclaimed_s:.0f} s: supervisors notified")
    with conn.transaction():
        reminded = [r[0] for r in conn.execute(_FORGOTTEN, (remind_s,)).fetchall()]
        for alert_id in reminded:
            transition(conn, alert_id, Action.REMIND, SYSTEM,
                       data={"reason": "unresolved", "minutes": round(remind_s / 60)},
                       note=f"still unresolved {remind_s / 60:.0f} min after it was claimed")
    return escalated, reminded
