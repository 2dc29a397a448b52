"""The access log: every read of a sensitive field and every export — who (user id, name,
role), when, why (an alert, or a reason), about whom (residents, home), which fields.

Append-only in the database (a trigger refuses UPDATE and DELETE); ``purge``, the retention
job's, is the one deleter: it sets ``pinganling.access_log_purge`` for its own transaction,
which the trigger lets through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from server.alerts.model import Actor
from server.scope import ALL, Scope

# Kept at least this long whatever the settings say (the "at least 6 months").
MIN_RETENTION = timedelta(days=183)


@dataclass(frozen=True, slots=True)
class AccessRow:
    id: int
    ts: datetime
    user_id: int | None
    user_name: str
    role: str
    purpose: str
    alert_id: int | None
    reason: str
    residents: list[int]
    home_id: int | None
    fields: list[str]


def record(conn: psycopg.Connection[Any], actor: Actor, purpose: str, fields: Sequence[str],
           residents: Sequence[int], home_id: int | None = None, *,
           alert_id: int | None = None, reason: str = "") -> None:
    """One row (in the caller's transaction)."""
    conn.execute(
        "INSERT INTO access_log (user_id, user_name, role, purpose, alert_id, reason, "
        "residents, home_id, fields) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (actor.id, actor.name, actor.role.value, purpose, alert_id, reason[:500],
         list(residents), home_id, list(fields)))


@dataclass(frozen=True, slots=True)
class Search:
    """What to look for (every part optional)."""

    resident_id: int | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    field: str | None = None
    before_id: int | None = None
    limit: int = 100


def search(conn: psycopg.Connection[Any], q: Search, scope: Scope = ALL) -> list[AccessRow]:
    """Rows matching ``q`` about homes or residents in ``scope``, newest first."""
    query = sql.SQL(
        "SELECT a.id, a.ts, a.user_id, a.user_name, a.role, a.purpose, a.alert_id, a.reason, "
        "a.residents, a.home_id, a.fields FROM access_log a "
        "WHERE (%(resident)s::bigint IS NULL OR a.residents @> ARRAY[%(resident)s::bigint] "
        "       OR a.home_id IN (SELECT home_id FROM residents WHERE id = %(resident)s)) "
        "AND (%(user)s::bigint IS NULL OR a.user_id = %(user)s) "
        "AND (%(since)s::timestamptz IS NULL OR a.ts >= %(since)s) "
        "AND (%(until)s::timestamptz IS NULL OR a.ts < %(until)s) "
        "AND (%(field)s::text IS NULL OR %(field)s = ANY (a.fields)) "
        "AND (%(before)s::bigint IS NULL OR a.id < %(before)s) "
        "AND {} ORDER BY a.id DESC LIMIT %(limit)s").format(_in_scope(scope))
    with conn.cursor(row_factory=class_row(AccessRow)) as cur:
        return cur.execute(query, {
            "resident": q.resident_id, "user": q.user_id, "since": q.since, "until": q.until,
            "field": q.field, "before": q.before_id, "limit": q.limit}).fetchall()


def _in_scope(scope: Scope) -> sql.Composable:
    """A row is in scope when its home is, or (no home) one of its residents' homes is."""
    if scope.regions is None:
        return sql.SQL("TRUE")
    return sql.SQL(
        "EXISTS (SELECT 1 FROM homes h WHERE {} AND (h.id = a.home_id OR (a.home_id IS NULL "
        "AND h.id IN (SELECT home_id FROM residents WHERE id = ANY (a.residents)))))").format(
        scope.where("h.region_id"))


def purge(conn: psycopg.Connection[Any], keep: timedelta) -> int:
    """Delete rows older than ``keep`` (never less than ``MIN_RETENTION``): the retention
    job's, the one delete the append-only trigger lets through. Returns how many."""
    keep = max(keep, MIN_RETENTION)
    with conn.transaction():
        conn.execute("SELECT set_config('pinganling.access_log_purge', 'on', true)")
        cur = conn.execute("DELETE FROM access_log WHERE ts < now() - %s", (keep,))
        conn.execute("SELECT set_config('pinganling.access_log_purge', 'off', true)")
        return cur.rowcount
