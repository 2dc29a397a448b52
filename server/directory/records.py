"""What every directory module shares: typed reads, one-row inserts, and writes in one
transaction whose database refusals become the service's errors (``server.errors``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row
from pydantic import BaseModel, ConfigDict

from server.errors import Conflict, NotFound

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
        missing: str) -> dict[str, Any]:
    """The query's one row (column -> value); NotFound saying ``missing`` when it has none."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise NotFound(missing)
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
