"""Escalation: P1/P2 alerts nobody claimed within N s; reminders for claimed ones left open.

This module finds the alerts that are due; the actions are the alert service's. Safe on every
server replica at once: each alert is escalated (or reminded) by the first transaction that
locks it; the others skip it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from server.alerts import service

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
            service.escalate(conn, alert_id, unclaimed_s)
    with conn.transaction():
        reminded = [r[0] for r in conn.execute(_FORGOTTEN, (remind_s,)).fetchall()]
        for alert_id in reminded:
            service.remind(conn, alert_id, remind_s)
    return escalated, reminded
