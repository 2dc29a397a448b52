"""The server's database: find or start one, confine it to the configured schema, migrate it."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from pinganling.services.postgres import PrivateCluster, local_or_private
from server.settings import Settings
from server.store import BackendChoice, schema_conninfo
from server.store.connect import Prepared, prepare

log = logging.getLogger(__name__)


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
