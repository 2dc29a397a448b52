"""Connection strings confined to one schema, and the start-up sequence."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from server.store.config import Backend, BackendChoice, StoreConfig
from server.store.maintenance import MaintenanceReport, apply_policies, run_maintenance
from server.store.migrations import apply_migrations
from server.store.timescale import delete_schema_jobs

log = logging.getLogger(__name__)

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_conninfo(url: str, schema: str) -> str:
    """``url`` with ``-c search_path=<schema>`` added to its options (kept otherwise)."""
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"schema name {schema!r}: use lower-case letters, digits and _")
    options = conninfo_to_dict(url).get("options") or ""
    return make_conninfo(url, options=f"{options} -c search_path={schema}".strip())


def drop_schema(conn: psycopg.Connection[Any], schema: str, *, attempts: int = 5,
                lock_timeout: str = "30s") -> None:
    """``DROP SCHEMA IF EXISTS schema CASCADE`` on an autocommit connection, TimescaleDB's
    background jobs on it deleted first.

    A policy job still working on one of the schema's hypertables (compressing, dropping or
    refreshing chunks) makes the drop fail with "tuple concurrently deleted/updated" or a
    deadlock; the jobs are deleted (which cancels a running one) and the drop is retried.
    """
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"schema name {schema!r}: use lower-case letters, digits and _")
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
    for attempt in range(1, attempts + 1):
        try:
            delete_schema_jobs(conn, schema)
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))
            return
        except (psycopg.errors.InternalError_, psycopg.errors.DeadlockDetected) as exc:
            concurrent = isinstance(exc, psycopg.errors.DeadlockDetected) or \
                "concurrently" in str(exc)
            if not concurrent or attempt == attempts:
                raise
            log.info("dropping schema %s: %s; retrying (%d/%d)", schema, str(exc).strip(),
                     attempt, attempts)
            time.sleep(0.2 * attempt)


@dataclass(frozen=True, slots=True)
class Prepared:
    backend: Backend
    applied: list[int]
    maintenance: MaintenanceReport


def prepare(conn: psycopg.Connection[Any], config: StoreConfig,
            backend: BackendChoice = BackendChoice.AUTO) -> Prepared:
    """Start-up: migrate, apply the configured policies, run one maintenance pass."""
    applied = apply_migrations(conn, backend)
    chosen = apply_policies(conn, config)
    report = run_maintenance(conn, lock_timeout=config.lock_timeout)
    return Prepared(chosen, applied, report)
