"""The server's database: find or start one, confine it to the configured schema, migrate it."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from kernel.services.postgres import PrivateCluster, local_or_private
from server.settings import Settings
from server.store import BackendChoice, schema_conninfo
from server.store.connect import Prepared, prepare

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10
# a request waits this long for a connection, then answers 503: long, because a loaded machine
# (slow chart queries holding every connection) must not turn into errors in the console
POOL_WAIT_S = 30.0


def resolve(settings: Settings) -> tuple[str, PrivateCluster | None]:
    """Conninfo of the server's database (schema applied) and the private cluster we started."""
    url, cluster = local_or_private(
        settings.data_dir.resolve() / "postgres", settings.database_url,
        timescaledb=settings.storage_backend is not BackendChoice.PLAIN)
    if settings.database_schema:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(settings.database_schema)))
        url = schema_conninfo(url, settings.database_schema)
    return url, cluster


def migrate(conninfo: str, settings: Settings) -> Prepared:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        prepared = prepare(conn, settings.store_config(), settings.storage_backend)
    log.info("database ready: %s backend, migrations applied now: %s", prepared.backend.value,
             prepared.applied or "none")
    return prepared


def connect(conninfo: str, **kw: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo, autocommit=True, **kw)


def pool(conninfo: str, settings: Settings) -> ConnectionPool[Any]:
    """The API's pool (not yet open): every connection is checked before a request gets it.

    A database restart breaks every idle connection at once. The first failed check sweeps them
    all (``ConnectionPool.check``: each is tried and replaced when broken), so after a restart
    requests wait for a new connection (psycopg_pool retries after ~1 s) instead of failing.
    """
    def check(conn: psycopg.Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            made.check()
            raise

    made: ConnectionPool[Any] = ConnectionPool(
        conninfo, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
        timeout=POOL_WAIT_S, kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
        check=check, open=False, name="api")
    return made
