"""The consent ledger: per resident, which scopes are in force, granted by whom (the resident
or a guardian, named), when, on what document; a withdrawal closes a grant (when, by whom).

What a missing consent changes is enforced where the data flows: without
``health_monitoring`` the vitals writer stores no vital signs of the resident's devices (the
``vitals_barred`` view); without ``share_family`` an alert shows family contacts without their
phones, which an operator can still see through an emergency override (``override``): logged
in the access log and leaving an "inform afterwards" task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row

from server.alerts.model import Actor
from server.errors import Conflict, NotFound


class Scope(StrEnum):
    ALARM_SERVICE = "alarm_service"
    HEALTH_MONITORING = "health_monitoring"
    ACTIVITY_SENSING = "activity_sensing"
    SHARE_FAMILY = "share_family"
    SHARE_COMMUNITY = "share_community"
    SHARE_MEDICAL = "share_medical"


class GrantedBy(StrEnum):
    RESIDENT = "resident"
    GUARDIAN = "guardian"


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    resident_id: int
    scope: str
    granted_by: str
    granted_by_name: str
    granted_at: datetime
    document: str
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None


_COLUMNS = ("id, resident_id, scope, granted_by, granted_by_name, granted_at, document, "
            "recorded_by, withdrawn_at, withdrawn_by")


def ledger(conn: psycopg.Connection[Any], resident_id: int) -> list[Consent]:
    """Every grant of the resident, in force first, then by scope and time."""
    with conn.cursor(row_factory=class_row(Consent)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM consents WHERE resident_id = %s "
            "ORDER BY withdrawn_at IS NOT NULL, scope, granted_at, id",
            (resident_id,)).fetchall()


def in_force(conn: psycopg.Connection[Any], resident_id: int) -> set[Scope]:
    """The scopes in force for the resident."""
    rows = conn.execute("SELECT scope FROM consents WHERE resident_id = %s "
                        "AND withdrawn_at IS NULL", (resident_id,)).fetchall()
    return {Scope(r[0]) for r in rows}


def sharing(conn: psycopg.Connection[Any], resident_ids: list[int], scope: Scope) -> list[int]:
    """Those of ``resident_ids`` with ``scope`` in force, in the given order."""
    rows = conn.execute("SELECT resident_id FROM consents WHERE resident_id = ANY (%s) "
                        "AND scope = %s AND withdrawn_at IS NULL",
                        (resident_ids, scope.value)).fetchall()
    have = {r[0] for r in rows}
    return [r for r in resident_ids if r in have]


def grant(conn: psycopg.Connection[Any], actor: Actor, resident_id: int, scope: Scope,
          granted_by: GrantedBy, granted_by_name: str, document: str = "",
          granted_at: datetime | None = None) -> Consent:
    """Record a grant; Conflict when the scope is already in force (withdraw it first)."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM residents WHERE id = %s FOR SHARE",
                        (resident_id,)).fetchone() is None:
            raise NotFound(f"no resident {resident_id}")
        if scope in in_force(conn, resident_id):
            raise Conflict(f"{scope.value} is already in force for resident {resident_id}")
        with conn.cursor(row_factory=class_row(Consent)) as cur:
            row = cur.execute(
                "INSERT INTO consents (resident_id, scope, granted_by, granted_by_name, "
                "granted_at, document, recorded_by) VALUES (%s, %s, %s, %s, "
                f"coalesce(%s, now()), %s, %s) RETURNING {_COLUMNS}",
                (resident_id, scope.value, granted_by.value, granted_by_name, granted_at,
                 document, actor.name)).fetchone()
        assert row is not None
        return row


def grant_all(conn: psycopg.Connection[Any], resident_id: int, name: str,
              document: str) -> None:
    """Every scope, granted by the resident (demo and test worlds, a full service agreement)."""
    conn.execute(
        "INSERT INTO consents (resident_id, scope, granted_by, granted_by_name, document, "
        "recorded_by) SELECT %s, s, 'resident', %s, %s, 'seed' FROM unnest(%s::text[]) AS s "
        "ON CONFLICT DO NOTHING", (resident_id, name, document, [s.value for s in Scope]))


def withdraw(conn: psycopg.Connection[Any], actor: Actor, resident_id: int, scope: Scope,
             withdrawn_by: str) -> Consent:
    """Close the grant in force of ``scope``; NotFound when none is."""
    with conn.cursor(row_factory=class_row(Consent)) as cur:
        row = cur.execute(
            "UPDATE consents SET withdrawn_at = now(), withdrawn_by = %s WHERE resident_id = %s "
            f"AND scope = %s AND withdrawn_at IS NULL RETURNING {_COLUMNS}",
            (withdrawn_by or actor.name, resident_id, scope.value)).fetchone()
    if row is None:
        raise NotFound(f"no {scope.value} consent in force for resident {resident_id}")
    return row
