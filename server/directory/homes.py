"""Homes: an address in a community (its street and district above it), access notes, the key
safe's code (written here, never read back: responders reveal it on an alert, audited).

Every write is confined to the actor's regions (``Scope``), one transaction, audited
(``server.directory.audit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field, field_validator

from server.alerts.model import SYSTEM, Actor
from server.api.types import Id, Text
from server.directory import audit
from server.directory.records import Input, check_region, insert, one, update, writing
from server.errors import Conflict
from server.scope import ALL, Scope


class HomeIn(Input):
    region_id: Id
    address: Text = Field(min_length=1, max_length=200)
    key_safe_code: Text | None = Field(default=None, max_length=40)
    notes: Text = Field(default="", max_length=4000)
    grid: Text = Field(default="", max_length=80)  # 网格 within the community (visits)


class HomeEdit(Input):
    """The fields to change (absent: unchanged); ``key_safe_code`` null clears it."""

    region_id: Id | None = None
    address: Text | None = Field(default=None, min_length=1, max_length=200)
    key_safe_code: Text | None = Field(default=None, max_length=40)
    notes: Text | None = Field(default=None, max_length=4000)
    grid: Text | None = Field(default=None, max_length=80)

    @field_validator("region_id", "address", "notes", "grid")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not set to null")
        return value


@dataclass(frozen=True, slots=True)
class Home:
    """A home as the directory shows it: where, how to get in, whether a key safe is on
    record (not its code)."""

    id: int
    region_id: int
    address: str
    notes: str
    grid: str
    has_key_safe: bool
    active: bool
    community: str | None
    street: str | None
    district: str | None
    created_at: datetime
    updated_at: datetime


_HOME = """
SELECT h.id, h.region_id, h.address, h.notes, h.grid, h.key_safe_code IS NOT NULL AS has_key_safe,
       h.active, CASE WHEN r.level = '社区' THEN r.name END AS community,
       CASE WHEN r.level = '街道' THEN r.name WHEN p.level = '街道' THEN p.name END AS street,
       CASE WHEN r.level = '区' THEN r.name WHEN p.level = '区' THEN p.name
            WHEN g.level = '区' THEN g.name END AS district, h.created_at, h.updated_at
FROM homes h JOIN regions r ON r.id = h.region_id LEFT JOIN regions p ON p.id = r.parent_id
     LEFT JOIN regions g ON g.id = p.parent_id
"""


def get_home(conn: psycopg.Connection[Any], scope: Scope, home_id: int) -> Home:
    """The home if it is in ``scope`` (NotFound otherwise)."""
    row = one(conn, sql.SQL("{} WHERE h.id = %s AND {}").format(
        sql.SQL(_HOME), scope.where("h.region_id")), (home_id,), f"no home {home_id}")
    return Home(**row)


def locked_home(conn: psycopg.Connection[Any], scope: Scope, home_id: int,
                field: str | None = None) -> dict[str, Any]:
    """Lock a home in ``scope`` (its row, and the ids of who lives there) for a write that
    changes it or puts someone in it; NotFound (naming ``field``) otherwise."""
    return one(conn, sql.SQL(
        "SELECT h.id, h.region_id, h.address, h.key_safe_code, h.notes, h.grid, h.active, "
        "coalesce((SELECT array_agg(r.id) FROM residents r WHERE r.home_id = h.id), '{{}}') "
        "AS residents FROM homes h WHERE h.id = %s AND {} FOR UPDATE OF h").format(
            scope.where("h.region_id")), (home_id,), f"no home {home_id}", field)


def add_home(conn: psycopg.Connection[Any], h: HomeIn, *, actor: Actor = SYSTEM,
             scope: Scope = ALL) -> int:
    """Create a home in one of the actor's regions."""
    with writing(conn):
        check_region(conn, scope, h.region_id)
        home_id = int(insert(conn, "homes", h.model_dump()))
        audit.record(conn, actor, "home", home_id, "create", audit.diff({}, h.model_dump()),
                     home_id=home_id, residents=())
        return home_id


def edit_home(conn: psycopg.Connection[Any], home_id: int, edit: HomeEdit, *,
              actor: Actor = SYSTEM, scope: Scope = ALL) -> Home:
    """Change a home's fields; moving it to another region needs that region in scope too."""
    wanted = edit.model_dump(exclude_unset=True)
    with writing(conn):
        before = locked_home(conn, scope, home_id)
        if "region_id" in wanted:
            check_region(conn, scope, wanted["region_id"])
        changes = audit.diff(before, wanted)
        update(conn, "homes", home_id, {k: wanted[k] for k in changes})
        if changes:
            audit.record(conn, actor, "home", home_id, "update", changes, home_id=home_id,
                         residents=before["residents"])
        return get_home(conn, ALL, home_id)


def deactivate_home(conn: psycopg.Connection[Any], home_id: int, note: str = "", *,
                    actor: Actor = SYSTEM, scope: Scope = ALL) -> Home:
    """Mark a home no longer served (kept, with its history); refused while a resident who
    has not moved or died lives there."""
    with writing(conn):
        before = locked_home(conn, scope, home_id)
        living = conn.execute("SELECT count(*) FROM residents WHERE home_id = %s AND status "
                              "NOT IN ('moved', 'deceased')", (home_id,)).fetchone()
        if living and living[0]:
            raise Conflict(f"home {home_id} still has {living[0]} resident(s): record that they "
                           "moved (or died) first")
        if before["active"]:
            update(conn, "homes", home_id, {"active": False})
            audit.record(conn, actor, "home", home_id, "deactivate",
                         {"active": [True, False]}, home_id=home_id,
                         residents=before["residents"], note=note)
        return get_home(conn, ALL, home_id)
