"""What every directory module shares: typed reads, one-row inserts, and writes in one
transaction whose database refusals become the service's errors (``server.errors``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row
from pydantic import BaseModel, ConfigDict

from server.errors import Conflict, NotFound
from server.scope import Scope

Row = TypeVar("Row")
Result = TypeVar("Result")

# Fields of the input models that name a row: field -> (table, what it is called).
REFERENCES = {"parent_id": ("regions", "region"), "region_id": ("regions", "region"),
              "home_id": ("homes", "home"), "resident_id": ("residents", "resident"),
              "gateway_id": ("gateways", "gateway"), "regions": ("regions", "region")}


class Input(BaseModel):
    """Base of the directory's input models: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def fetch(conn: psycopg.Connection[Any], row: type[Row], query: sql.SQL | sql.Composed,
          params: Sequence[Any] = ()) -> list[Row]:
    """The query's rows as ``row`` instances (its columns are the row's fields)."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(query, params).fetchall()


def one(conn: psycopg.Connection[Any], query: sql.Composed, params: Sequence[Any],
        missing: str, field: str | None = None) -> dict[str, Any]:
    """The query's one row (column -> value); NotFound saying ``missing`` (about ``field`` of
    the request, if it names one) when it has none."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise NotFound(missing, field=field)
    return row


def insert(conn: psycopg.Connection[Any], table: str, data: dict[str, Any],
           key: str = "id") -> Any:
    """Insert one row of ``data`` (column -> value); its ``key``."""
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, data)),
        sql.SQL(", ").join(sql.Placeholder() * len(data)), sql.Identifier(key))
    row = conn.execute(query, list(data.values())).fetchone()
    assert row is not None
    return row[0]


def check_references(conn: psycopg.Connection[Any], body: BaseModel) -> None:
    """NotFound naming the field when ``body`` refers to a row that does not exist."""
    for field, (table, noun) in REFERENCES.items():
        value = getattr(body, field, None)
        wanted = value if isinstance(value, list) else [] if value is None else [value]
        if not wanted:
            continue
        found = {r[0] for r in conn.execute(
            sql.SQL("SELECT id FROM {} WHERE id = ANY (%s)").format(sql.Identifier(table)),
            (wanted,))}
        missing = [v for v in wanted if v not in found]
        if missing:
            raise NotFound(f"no {noun} {missing[0]!r}", field=field)


def create(conn: psycopg.Connection[Any], body: BaseModel,
           write: Callable[[psycopg.Connection[Any]], Result]) -> Result:
    """Check what ``body`` refers to and ``write`` it, in one transaction.

    A constraint the database still enforces (a duplicate key, a row removed since it was
    checked) is a Conflict; nothing is written.
    """
    try:
        with conn.transaction():
            check_references(conn, body)
            return write(conn)
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict("a row this refers to was removed meanwhile") from None
    except psycopg.IntegrityError as exc:
        raise Conflict(exc.diag.message_primary or "conflict") from None


def update(conn: psycopg.Connection[Any], table: str, row_id: int, data: dict[str, Any]) -> None:
    """Set ``data`` (column -> value) on one row, and its ``updated_at``."""
    if not data:
        return
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in data)
    conn.execute(sql.SQL("UPDATE {} SET {}, updated_at = now() WHERE id = %s").format(
        sql.Identifier(table), sets), [*data.values(), row_id])


def check_region(conn: psycopg.Connection[Any], scope: Scope, region_id: int,
                 field: str = "region_id") -> None:
    """NotFound naming ``field`` unless the region exists and is in ``scope``: a write may
    only put rows where its actor works (one outside looks like one that does not exist)."""
    exists = conn.execute("SELECT 1 FROM regions WHERE id = %s", (region_id,)).fetchone()
    if exists is None or not scope.covers(conn, region_id):
        raise NotFound(f"no region {region_id}", field=field)


@contextmanager
def writing(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """A write's transaction: a constraint the database still enforces is a Conflict."""
    try:
        with conn.transaction():
            yield
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict("a row this refers to was removed meanwhile") from None
    except psycopg.IntegrityError as exc:
        raise Conflict(exc.diag.message_primary or "conflict") from None
