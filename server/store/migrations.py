"""Versioned SQL migrations: applied in order, recorded with checksums, under an advisory lock.

Files in ``server/store/sql`` are named ``NNNN_name.sql`` (both backends) or
``NNNN_name.plain.sql`` + ``NNNN_name.timescale.sql`` (one per backend). A schema's backend is
chosen when its first backend-specific migration is applied and recorded with it; later runs
follow the recorded choice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import psycopg

from server.store import locks, timescale
from server.store.config import Backend, BackendChoice
from server.store.errors import BackendMismatch, ChecksumMismatch, MigrationError

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(plain|timescale))?\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    backend     text,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    backend: Backend | None  # None: the same file for both backends
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(source: Traversable | None = None,
                    ) -> dict[int, dict[Backend | None, Migration]]:
    """Migration files of ``source`` (default: ``server/store/sql``) by version, then backend
    (None for shared files)."""
    found: dict[int, dict[Backend | None, Migration]] = {}
    for entry in (source or resources.files("server.store.sql")).iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        version, name, variant = int(match[1]), match[2], match[3]
        backend = Backend(variant) if variant else None
        found.setdefault(version, {})[backend] = Migration(
            version, name, backend, entry.read_text(encoding="utf-8"))
    for version, variants in found.items():
        shared_ok = None in variants and len(variants) == 1
        if not shared_ok and set(variants) != {Backend.PLAIN, Backend.TIMESCALE}:
            raise MigrationError(f"migration {version:04d}: need one shared file or both variants")
    return dict(sorted(found.items()))


def apply_migrations(conn: psycopg.Connection[Any],
                     backend: BackendChoice = BackendChoice.AUTO, *,
                     source: Traversable | None = None) -> list[int]:
    """Bring the current schema up to date; return the versions applied by this call.

    Safe to run twice and from several processes at once: a session advisory lock on the
    schema serialises them and each migration commits with its record. Raises
    ChecksumMismatch when an applied migration's file has changed. ``source`` is another
    directory of migration files (tests).
    """
    available = load_migrations(source)
    with locks.autocommit(conn), _schema_lock(conn):
        conn.execute(_CREATE_TABLE)
        applied = _applied(conn)
        _verify(applied, available)
        chosen = _backend(conn, applied, backend)
        done: list[int] = []
        for version, variants in available.items():
            if version in applied:
                continue
            migration = variants.get(None) or variants[chosen]
            _apply_one(conn, migration)
            done.append(version)
            log.info("applied migration %04d %s (%s)", version, migration.name, chosen)
        return done


def schema_backend(conn: psycopg.Connection[Any]) -> Backend | None:
    """The backend recorded for the current schema, or None if none is recorded yet."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return None
    row = conn.execute(
        "SELECT backend FROM schema_migrations WHERE backend IS NOT NULL LIMIT 1").fetchone()
    return None if row is None else Backend(row[0])


def _applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, Backend | None, str]]:
    rows = conn.execute("SELECT version, name, backend, checksum FROM schema_migrations")
    return {v: (n, Backend(b) if b else None, c) for v, n, b, c in rows}


def _verify(applied: dict[int, tuple[str, Backend | None, str]],
            available: dict[int, dict[Backend | None, Migration]]) -> None:
    for version, (name, backend, checksum) in applied.items():
        migration = available.get(version, {}).get(backend)
        if migration is None:
            log.warning("schema has migration %04d (%s) that this code does not know",
                        version, name)
        elif migration.checksum != checksum:
            raise ChecksumMismatch(version, name, checksum, migration.checksum)


def _backend(conn: psycopg.Connection[Any], applied: dict[int, tuple[str, Backend | None, str]],
             wanted: BackendChoice) -> Backend:
    recorded = {b for _, b, _ in applied.values() if b is not None}
    if recorded:
        (current,) = recorded
        if wanted not in (BackendChoice.AUTO, current):
            raise BackendMismatch(f"schema was built for {current}, {wanted} was asked for")
        return current
    if wanted is BackendChoice.PLAIN:
        return Backend.PLAIN
    if timescale.ensure_extension(conn, fallback=wanted is BackendChoice.AUTO) is not None:
        return Backend.TIMESCALE
    if wanted is BackendChoice.TIMESCALE:
        raise BackendMismatch("TimescaleDB was asked for, but it cannot be used here: "
                              f"{timescale.unavailable_reason(conn)}")
    return Backend.PLAIN


def _apply_one(conn: psycopg.Connection[Any], migration: Migration) -> None:
    try:
        with conn.transaction():
            if migration.backend is Backend.TIMESCALE:
                ext = timescale.extension_schema(conn)
                if ext is None:
                    raise MigrationError("timescaledb extension vanished during migration")
                timescale.with_extension_on_path(conn, ext)
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, backend, checksum)"
                " VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name,
                 migration.backend.value if migration.backend else None, migration.checksum))
    except psycopg.Error as exc:
        raise MigrationError(
            f"migration {migration.version:04d} ({migration.name}) failed: {exc}") from exc


@contextmanager
def _schema_lock(conn: psycopg.Connection[Any]) -> Iterator[None]:
    locks.current_schema(conn)
    locks.lock_schema(conn, locks.MIGRATE, xact=False)
    try:
        yield
    finally:
        if not conn.closed:
            locks.unlock_schema(conn, locks.MIGRATE)
