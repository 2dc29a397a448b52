"""Connection strings confined to one schema, and the start-up sequence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from server.store.config import Backend, BackendChoice, StoreConfig
from server.store.maintenance import MaintenanceReport, apply_policies, run_maintenance
from server.store.migrations import apply_migrations

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_conninfo(url: str, schema: str) -> str:
    """``url`` with ``-c search_path=<schema>`` added to its options (kept otherwise)."""
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"schema name {schema!r}: use lower-case letters, digits and _")
    options = conninfo_to_dict(url).get("options") or ""
    return make_conninfo(url, options=f"{options} -c search_path={schema}".strip())


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
