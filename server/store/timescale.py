"""The TimescaleDB path: detect the extension, and register its policies from StoreConfig.

The extension is database-wide: it is created once, in ``EXTENSION_SCHEMA``, and its functions
are called schema-qualified so they resolve whatever a connection's search_path is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from server.store import locks
from server.store.config import ROLLUPS, TIME_SERIES, StoreConfig
from server.store.errors import StoreError

log = logging.getLogger(__name__)

EXTENSION_SCHEMA = "public"


def extension_schema(conn: psycopg.Connection[Any]) -> str | None:
    """Schema of the installed timescaledb extension, or None when it is not installed."""
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return None if row is None else str(row[0])


NOT_PRELOADED = (
    "timescaledb is installed but PostgreSQL does not preload it, so CREATE EXTENSION would "
    "end the connection with FATAL; to use it add shared_preload_libraries = 'timescaledb' to "
    "postgresql.conf and restart PostgreSQL")


def preloaded(conn: psycopg.Connection[Any]) -> bool:
    """Whether this server preloads timescaledb (``CREATE EXTENSION`` is FATAL otherwise).

    The library, once preloaded, registers its ``timescaledb.*`` settings in every backend;
    that is visible to any role, where ``shared_preload_libraries`` itself may not be.
    """
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'timescaledb.%%')"
    ).fetchone()
    return bool(row and row[0])


def unavailable_reason(conn: psycopg.Connection[Any]) -> str:
    """Why ``ensure_extension`` found no TimescaleDB here, in words that name the fix."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                    ).fetchone() is None:
        return "the timescaledb extension is not installed on this PostgreSQL server"
    if not preloaded(conn):
        return NOT_PRELOADED
    return "CREATE EXTENSION timescaledb failed (the server log says why)"


def ensure_extension(conn: psycopg.Connection[Any]) -> str | None:
    """``CREATE EXTENSION IF NOT EXISTS timescaledb``; its schema, or None when that fails.

    Checks first that the server preloads the library (see :func:`preloaded`), then runs in
    its own transaction (or savepoint) so a failure leaves the connection usable.
    """
    found = extension_schema(conn)
    if found is not None:
        return found
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if available is None:
        log.info("timescaledb is not available on this server; using plain PostgreSQL")
        return None
    if not preloaded(conn):
        log.warning("%s; using plain PostgreSQL", NOT_PRELOADED)
        return None
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (locks.EXTENSION,))
            conn.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA {}").format(
                    sql.Identifier(EXTENSION_SCHEMA)
                )
            )
    except psycopg.Error as exc:
        log.warning("CREATE EXTENSION timescaledb failed (%s); using plain PostgreSQL",
                    str(exc).strip())
        return None
    return extension_schema(conn)


def with_extension_on_path(conn: psycopg.Connection[Any], schema: str) -> None:
    """Append the extension's schema to this transaction's search_path (SET LOCAL)."""
    conn.execute(
        "SELECT set_config('search_path', current_setting('search_path') || ', ' || %s, true)",
        (sql.Identifier(schema).as_string(conn),),
    )


def apply_timescale_policies(conn: psycopg.Connection[Any], config: StoreConfig) -> None:
    """(Re)register compression, retention and refresh policies; idempotent.

    Policies are removed and added again, because ``add_*_policy(if_not_exists)`` keeps an
    existing policy whose interval differs.
    """
    ext = extension_schema(conn)
    if ext is None:
        raise StoreError("timescaledb is not installed in this database")
    fn = _functions(ext)
    for table in TIME_SERIES:
        conn.execute(fn("remove_compression_policy", "{}::regclass, true"), (table,))
        conn.execute(fn("add_compression_policy", "{}::regclass, {}"),
                     (table, config.compression_age(table)))
        conn.execute(fn("remove_retention_policy", "{}::regclass, true"), (table,))
        conn.execute(fn("add_retention_policy", "{}::regclass, {}"),
                     (table, config.retention(table)))
    for view in ROLLUPS:
        conn.execute(fn("remove_continuous_aggregate_policy", "{}::regclass, true"), (view,))
        conn.execute(
            fn("add_continuous_aggregate_policy",
               "{}::regclass, start_offset => {}, end_offset => {}, schedule_interval => {}"),
            (view, _start_offset(view, config), _end_offset(view), config.rollup_refresh_every),
        )
        conn.execute(fn("remove_retention_policy", "{}::regclass, true"), (view,))
        if config.rollup_retention is not None:
            conn.execute(fn("add_retention_policy", "{}::regclass, {}"),
                         (view, config.rollup_retention))


def _bucket(view: str) -> timedelta:
    return timedelta(hours=1) if view == "activity_hourly" else timedelta(days=1)


def _end_offset(view: str) -> timedelta:
    """Leave the open bucket alone: an hour for hourly activity, a day for daily vitals."""
    return _bucket(view)


def _start_offset(view: str, config: StoreConfig) -> timedelta:
    """The refresh window must span at least two buckets past the end offset."""
    return max(config.rollup_refresh_window, _end_offset(view) + 2 * _bucket(view))


def _functions(ext_schema: str) -> Callable[[str, str], sql.Composed]:
    def call(name: str, args: str) -> sql.Composed:
        placeholders = args.replace("{}", "%s")
        return sql.SQL("SELECT {}.{}(" + placeholders + ")").format(
            sql.Identifier(ext_schema), sql.Identifier(name)
        )

    return call
