"""Housekeeping: policies from StoreConfig, and the periodic maintenance run.

On TimescaleDB, background jobs do the work (compression, retention, aggregate refresh), so
``run_maintenance`` has nothing to do there. On plain PostgreSQL it creates partitions ahead,
adopts rows that landed in DEFAULT, drops expired partitions and refreshes the rollups; each
table is handled in its own short transaction under the schema's maintenance advisory lock,
so two processes may run it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import psycopg

from server.store import locks, partitions, rollups, timescale
from server.store.config import ROLLUPS, TIME_SERIES, Backend, StoreConfig
from server.store.errors import StoreError
from server.store.migrations import schema_backend

log = logging.getLogger(__name__)


@dataclass(slots=True)
class MaintenanceReport:
    """What one run did; ``errors`` holds steps that failed (retried on the next run)."""

    backend: Backend
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    adopted_rows: int = 0
    purged_rows: int = 0
    refreshed: dict[str, int] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def apply_policies(conn: psycopg.Connection[Any], config: StoreConfig) -> Backend:
    """Record retention / look-ahead (plain) or register TimescaleDB policies; idempotent."""
    with locks.autocommit(conn), conn.transaction():
        backend = _backend(conn)
        if backend is Backend.TIMESCALE:
            timescale.apply_timescale_policies(conn, config)
            return backend
        for table in TIME_SERIES:
            conn.execute(
                "UPDATE partition_policies SET retain = %s, ahead = %s WHERE table_name = %s",
                (config.retention(table), config.ahead(table), table))
        for rollup in ROLLUPS:
            conn.execute("UPDATE rollup_policies SET retain = %s WHERE rollup = %s",
                         (config.rollup_retention, rollup))
    return backend


def run_maintenance(conn: psycopg.Connection[Any], now: datetime | None = None, *,
                    lock_timeout: timedelta = timedelta(seconds=2)) -> MaintenanceReport:
    """One maintenance pass over the current schema (see module doc); never raises for a
    step that fails on a lock timeout or a database error: it is logged and reported."""
    with locks.autocommit(conn):
        report = MaintenanceReport(_backend(conn))
        if report.backend is Backend.TIMESCALE:
            return report
        when = now or _db_now(conn)
        for policy in partitions.load_policies(conn):
            _step(conn, report, policy.table, lock_timeout,
                  partial(_partitions, conn, report, policy, when))
        for rollup in ROLLUPS:
            _step(conn, report, rollup, lock_timeout, partial(_rollup, conn, report, rollup, when))
    return report


def _partitions(conn: psycopg.Connection[Any], report: MaintenanceReport,
                policy: partitions.PartitionPolicy, now: datetime) -> None:
    changes = partitions.maintain_table(conn, policy, now)
    report.created += changes.created
    report.dropped += changes.dropped
    report.adopted_rows += changes.adopted_rows
    report.purged_rows += changes.purged_rows


def _rollup(conn: psycopg.Connection[Any], report: MaintenanceReport, rollup: str,
            now: datetime) -> None:
    report.refreshed[rollup] = rollups.refresh_rollup(conn, rollup)
    report.expired[rollup] = rollups.expire_rollup(conn, rollup, now)


def _step(conn: psycopg.Connection[Any], report: MaintenanceReport, what: str,
          lock_timeout: timedelta, work: Callable[[], None]) -> None:
    """Run ``work`` in its own transaction under the maintenance lock; DDL lock waits are
    bounded by ``lock_timeout`` so ingest is never stalled for long."""
    try:
        with conn.transaction():
            locks.lock_schema(conn, locks.MAINTAIN, xact=True)
            conn.execute("SELECT set_config('lock_timeout', %s, true)",
                         (f"{int(lock_timeout.total_seconds() * 1000)}ms",))
            work()
    except psycopg.Error as exc:
        log.warning("maintenance of %s failed: %s", what, str(exc).strip())
        report.errors.append(f"{what}: {str(exc).strip()}")


def _db_now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _backend(conn: psycopg.Connection[Any]) -> Backend:
    backend = schema_backend(conn)
    if backend is None:
        raise StoreError("schema is not migrated; call apply_migrations first")
    return backend
