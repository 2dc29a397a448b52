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


APACHE_ONLY = (
    "the TimescaleDB loaded here is its Apache-2 edition (timescaledb.license = 'apache'), "
    "without the compression and continuous aggregates the schema uses; install the "
    "community edition (timescaledb-2-postgresql-<version>, not -oss) or set "
    "timescaledb.license = 'timescale' in postgresql.conf")


def apache_only(conn: psycopg.Connection[Any]) -> bool:
    """Whether the loaded TimescaleDB is limited to its Apache-2 features."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row is not None and row[0] == "apache"


def _available(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                        ).fetchone() is not None


def unavailable_reason(conn: psycopg.Connection[Any]) -> str:
    """Why ``ensure_extension`` found no TimescaleDB here, in words that name the fix."""
    if not _available(conn):
        return "the timescaledb extension is not installed on this PostgreSQL server"
    if not preloaded(conn):
        return NOT_PRELOADED
    if apache_only(conn):
        return APACHE_ONLY
    row = conn.execute(
        "SELECT has_database_privilege(current_database(), 'CREATE')"
        " OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
    if row is not None and not row[0]:
        return ("this role may not create the timescaledb extension in this database; a "
                "superuser (or the database's owner) has to run CREATE EXTENSION IF NOT EXISTS "
                "timescaledb SCHEMA public in it once")
    return "CREATE EXTENSION timescaledb failed (the server log says why)"


def ensure_extension(conn: psycopg.Connection[Any], *, fallback: bool = True) -> str | None:
    """``CREATE EXTENSION IF NOT EXISTS timescaledb``; its schema, or None when that fails.

    Checks first that the server preloads the library (see :func:`preloaded`) in an edition
    with the features the schema uses, then runs in its own transaction (or savepoint) so a
    failure leaves the connection usable. With ``fallback`` (``auto``) a reason is logged as
    one warning ending "using plain PostgreSQL"; without, the caller refuses with
    :func:`unavailable_reason` instead.
    """
    then = "; using plain PostgreSQL" if fallback else ""
    found = extension_schema(conn)
    if found is None and not _available(conn):
        log.info("timescaledb is not available on this server%s", then)
        return None
    reason = NOT_PRELOADED if not preloaded(conn) else APACHE_ONLY if apache_only(conn) else None
    if reason is not None:
        if fallback:
            log.warning("%s%s", reason, then)
        return None
    if found is not None:
        return found
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (locks.EXTENSION,))
            conn.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA {}").format(
                    sql.Identifier(EXTENSION_SCHEMA)
                )
            )
    except psycopg.Error as exc:
        log.warning("CREATE EXTENSION timescaledb failed (%s)%s", str(exc).strip(), then)
        return None
    return extension_schema(conn)


def schema_jobs(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    """Ids of TimescaleDB's background jobs working on ``schema``'s hypertables, including the
    materialisation hypertables of its continuous aggregates (which live in the extension's
    internal schema)."""
    if extension_schema(conn) is None:
        return []
    rows = conn.execute(
        "SELECT j.job_id FROM timescaledb_information.jobs j"
        " LEFT JOIN timescaledb_information.continuous_aggregates c"
        "   ON c.materialization_hypertable_schema = j.hypertable_schema"
        "  AND c.materialization_hypertable_name = j.hypertable_name"
        " WHERE j.hypertable_schema = %s OR c.view_schema = %s ORDER BY j.job_id",
        (schema, schema))
    return [int(r[0]) for r in rows]


def delete_schema_jobs(conn: psycopg.Connection[Any], schema: str) -> int:
    """Delete the jobs of :func:`schema_jobs` (``delete_job`` cancels a running one and waits
    for it); return how many. Nothing of TimescaleDB then works on the schema."""
    ext = extension_schema(conn)
    jobs = schema_jobs(conn, schema)
    if ext is None:
        return 0
    for job in jobs:
        conn.execute(_functions(ext)("delete_job", "{}"), (job,))
    return len(jobs)


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
    """Refresh up to now: the window's end is rounded down to a bucket boundary, so every
    closed bucket is materialised and the open one is left alone, as on plain PostgreSQL.
    (An end offset of one bucket would hold back the last closed one too, for up to a
    bucket: an hour of activity, a whole day of vital signs.)"""
    return timedelta(0)


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
