"""Advisory locks per schema ((class, hashtext(schema))) and connection-mode helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq

from server.store.errors import StoreError

MIGRATE = 0x50414C01  # applying migrations to one schema
MAINTAIN = 0x50414C02  # partition / rollup maintenance of one schema
EXTENSION = 0x50414C03  # CREATE EXTENSION (database-wide; second key 0)


def current_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema new objects go to: the first existing one on the search_path."""
    row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise StoreError("no schema of the search_path exists; create it first")
    return str(row[0])


def lock_schema(conn: psycopg.Connection[Any], key: int, *, xact: bool) -> None:
    """Wait for the advisory lock ``key`` of the current schema (transaction or session)."""
    fn = "pg_advisory_xact_lock" if xact else "pg_advisory_lock"
    conn.execute(f"SELECT {fn}(%s, hashtext(current_schema()))", (_int4(key),))


def unlock_schema(conn: psycopg.Connection[Any], key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (_int4(key),))


def _int4(key: int) -> int:
    """The two-key advisory lock functions take int4: fold our constants into range."""
    return key - (1 << 32) if key >= (1 << 31) else key


@contextmanager
def autocommit(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run with autocommit so each ``conn.transaction()`` block commits on its own."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise StoreError("this needs a connection with no transaction open: commit or roll back"
                         " first, or use an autocommit connection")
    previous = conn.autocommit
    conn.autocommit = True
    try:
        yield
    finally:
        conn.autocommit = previous
