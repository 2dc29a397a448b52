"""The maintenance audit: who started a test, sent a command, claimed or closed a work order
(rows are only ever added)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from server.auth.users import User


def record(conn: psycopg.Connection[Any], actor: User | None, action: str, entity: str,
           entity_id: object, **detail: Any) -> None:
    """One audit row (``actor`` None: the server itself)."""
    conn.execute(
        "INSERT INTO maintenance_audit (actor_id, actor, action, entity, entity_id, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (actor.id if actor else None, actor.username if actor else "server", action, entity,
         str(entity_id), Jsonb(detail)))


def entries(conn: psycopg.Connection[Any], entity: str, entity_id: object
            ) -> list[dict[str, Any]]:
    """An entity's audit, oldest first."""
    rows = conn.execute(
        "SELECT ts, actor, action, detail FROM maintenance_audit WHERE entity = %s "
        "AND entity_id = %s ORDER BY id", (entity, str(entity_id))).fetchall()
    return [{"ts": ts, "actor": a, "action": act, "detail": d} for ts, a, act, d in rows]
