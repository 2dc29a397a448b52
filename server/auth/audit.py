"""The user-management audit trail (``user_audit``): who did what to which account, when, from
where. Append-only (a trigger refuses UPDATE and DELETE); read by admins and auditors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from server.alerts.model import Actor


class UserAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # data: {field: [before, after]}
    DEACTIVATE = "deactivate"
    ACTIVATE = "activate"
    RESET_ISSUED = "reset_issued"  # an admin made a one-time code (the old password ends)
    RESET_USED = "reset_used"  # the user set a new password with it
    PASSWORD_CHANGED = "password_changed"  # by the user, knowing the old one
    SESSION_ENDED = "session_ended"
    SESSIONS_ENDED = "sessions_ended"
    LOCKOUT_CLEARED = "lockout_cleared"


@dataclass(frozen=True, slots=True)
class Target:
    """The account an action is about."""

    id: int | None
    username: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    ts: datetime
    actor_id: int | None
    actor: str
    action: str
    target_id: int | None
    target: str
    client: str
    data: dict[str, Any]


def record(conn: psycopg.Connection[Any], actor: Actor, action: UserAction,
           target: Target | None, data: dict[str, Any] | None = None, client: str = "") -> None:
    """One audit row (in the caller's transaction)."""
    conn.execute("INSERT INTO user_audit (actor_id, actor, action, target_id, target, client, "
                 "data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (actor.id, actor.name, action.value, target.id if target else None,
                  target.username if target else "", client[:100], Jsonb(data or {})))


def trail(conn: psycopg.Connection[Any], *, target_id: int | None = None,
          before_id: int | None = None, limit: int = 100) -> list[AuditRow]:
    """Audit rows, newest first (about one account, when given; older than ``before_id``)."""
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(
            "SELECT id, ts, actor_id, actor, action, target_id, target, client, data "
            "FROM user_audit WHERE (%(target)s::bigint IS NULL OR target_id = %(target)s) "
            "AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC "
            "LIMIT %(limit)s", {"target": target_id, "before": before_id, "limit": limit},
        ).fetchall()
