"""The directory's audit trail: every change of a home, resident or contact, who made it,
when, and field by field ``[before, after]``; read back as a resident's history.

A row names the residents whose history shows it (a home's change shows in the history of
everyone living there). Secrets are never copied into it: a changed key-safe code reads
``["•", "•"]`` (set / cleared shows as ``[null, "•"]`` / ``["•", null]``). Rows are only ever
added here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from server.alerts.model import Actor
from server.directory.records import fetch

SECRET_FIELDS = frozenset({"key_safe_code"})
HIDDEN = "•"
HISTORY_LIMIT = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change as the history shows it."""

    id: int
    ts: datetime
    actor: str
    entity: str
    entity_id: int
    action: str
    changes: dict[str, Any]
    note: str


def _plain(value: Any) -> Any:
    """A value as JSON holds it (dates as ISO text, enums as their value, tuples as lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for each field of ``after`` whose value changes (a field
    missing from ``before`` was empty); secrets masked."""
    out = {}
    for name, new in after.items():
        old = _plain(before.get(name))
        new = _plain(new)
        if old == new:
            continue
        if name in SECRET_FIELDS:
            old, new = (None if old is None else HIDDEN), (None if new is None else HIDDEN)
        out[name] = [old, new]
    return out


def record(conn: psycopg.Connection[Any], actor: Actor, entity: str, entity_id: int,
           action: str, changes: Mapping[str, Any], *, home_id: int | None,
           residents: Iterable[int], note: str = "") -> None:
    """Add one audit row (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO directory_audit (actor_id, actor, entity, entity_id, action, home_id, "
        "residents, changes, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (actor.id, actor.name, entity, entity_id, action, home_id, sorted(set(residents)),
         Jsonb(dict(changes)), note))


def history(conn: psycopg.Connection[Any], resident_id: int,
            limit: int = HISTORY_LIMIT) -> list[AuditEntry]:
    """The changes that concern a resident, newest first (the caller checked the scope)."""
    return fetch(conn, AuditEntry, sql.SQL(
        "SELECT id, ts, actor, entity, entity_id, action, changes, note FROM directory_audit "
        "WHERE residents @> ARRAY[%s]::int8[] ORDER BY id DESC LIMIT %s"), (resident_id, limit))
