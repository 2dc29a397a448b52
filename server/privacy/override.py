"""The emergency override: during an alert, an operator may see the family contacts' phones
of a resident who has not consented to sharing with family. Each override is an access-log
row (purpose ``emergency_override``) and leaves an "inform afterwards" task per resident:
a supervisor tells the resident or their guardian, then closes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from server.alerts.model import Actor
from server.directory.sensitive import Access, contacts_for
from server.errors import Conflict, NotFound
from server.privacy import consent
from server.scope import Scope

PURPOSE = "emergency_override"


@dataclass(frozen=True, slots=True)
class InformTask:
    id: int
    created_at: datetime
    resident_id: int | None
    alert_id: int | None
    scope: str
    reason: str
    user_id: int | None
    user_name: str
    closed_at: datetime | None
    closed_by: str | None
    close_note: str


_TASK = ("id, created_at, resident_id, alert_id, scope, reason, user_id, user_name, "
         "closed_at, closed_by, close_note")


def family_phones(conn: psycopg.Connection[Any], actor: Actor, alert: dict[str, Any],
                  reason: str) -> list[dict[str, Any]]:
    """The withheld contacts (with phones) of the alert's residents who do not consent to
    sharing with family; Conflict when nothing is withheld. ``alert``: its visible summary."""
    with conn.transaction():
        living = [r[0] for r in conn.execute(
            "SELECT id FROM residents WHERE home_id = %s AND status NOT IN ('moved', "
            "'deceased') ORDER BY id", (alert["home_id"],)).fetchall()]
        shared = set(consent.sharing(conn, living, consent.Scope.SHARE_FAMILY))
        withheld = [r for r in living if r not in shared]
        if not withheld:
            raise Conflict("no contact is withheld on this alert")
        found = contacts_for(conn, withheld,
                             Access(actor, PURPOSE, alert["id"], reason or "emergency"))
        for resident in withheld:
            conn.execute("INSERT INTO inform_tasks (resident_id, alert_id, scope, reason, "
                         "user_id, user_name) VALUES (%s, %s, %s, %s, %s, %s)",
                         (resident, alert["id"], consent.Scope.SHARE_FAMILY.value, reason,
                          actor.id, actor.name))
    return [{**asdict(c), "withheld": False, "override": True} for c in found]


def tasks(conn: psycopg.Connection[Any], scope: Scope, *,
          open_only: bool = True) -> list[InformTask]:
    """Inform-afterwards tasks about residents in ``scope``, oldest first (the open ones,
    unless ``open_only`` is False)."""
    with conn.cursor(row_factory=class_row(InformTask)) as cur:
        return cur.execute(_IN_SCOPE.format(scope.where("h.region_id")) + sql.SQL(
            " AND (NOT %s OR t.closed_at IS NULL) ORDER BY t.id"), (open_only,)).fetchall()


def close(conn: psycopg.Connection[Any], actor: Actor, scope: Scope, task_id: int,
          note: str) -> InformTask:
    """The resident or their guardian was told: close the task (Conflict: already closed;
    NotFound outside ``scope``)."""
    with conn.transaction(), conn.cursor(row_factory=class_row(InformTask)) as cur:
        row = cur.execute(_IN_SCOPE.format(scope.where("h.region_id")) + sql.SQL(
            " AND t.id = %s FOR UPDATE OF t"), (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"no task {task_id}")
        if row.closed_at is not None:
            raise Conflict(f"task {task_id} is already closed")
        done = cur.execute(
            f"UPDATE inform_tasks SET closed_at = now(), closed_by = %s, close_note = %s "
            f"WHERE id = %s RETURNING {_TASK}", (actor.name, note, task_id)).fetchone()
    assert done is not None
    return done


_IN_SCOPE = sql.SQL(
    "SELECT t.id, t.created_at, t.resident_id, t.alert_id, t.scope, t.reason, t.user_id, "
    "t.user_name, t.closed_at, t.closed_by, t.close_note FROM inform_tasks t "
    "LEFT JOIN residents r ON r.id = t.resident_id LEFT JOIN homes h ON h.id = r.home_id "
    "WHERE {}")
