"""Plain PostgreSQL: create time partitions ahead, adopt rows from DEFAULT, drop expired ones.

Partition bounds are aligned on ``EPOCH`` (a Monday, like TimescaleDB's chunk origin), so
weekly partitions run Monday to Monday UTC. New partitions are created with ``CREATE TABLE
... (LIKE parent)`` + ``ATTACH PARTITION``, which needs only SHARE UPDATE EXCLUSIVE on the
parent, so ingest's COPY keeps running; dropping an expired partition needs ACCESS EXCLUSIVE
on the parent for a moment, bounded by the configured lock_timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

EPOCH = datetime(2000, 1, 3, tzinfo=UTC)

_BOUNDS = """
SELECT relname, (m)[1]::timestamptz, (m)[2]::timestamptz
FROM (SELECT c.relname,
             regexp_match(pg_get_expr(c.relpartbound, c.oid),
                          'FROM \\(''([^'']*)''\\) TO \\(''([^'']*)''\\)') AS m
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = %s::regclass) p
WHERE m IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class PartitionPolicy:
    """One row of ``partition_policies``."""

    table: str
    column: str
    step: timedelta
    retain: timedelta | None
    ahead: int

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def bucket(self, t: datetime) -> datetime:
        return EPOCH + ((t - EPOCH) // self.step) * self.step

    def name(self, lo: datetime) -> str:
        return f"{self.table}_p{lo:%Y%m%d_%H%M}"


@dataclass(slots=True)
class PartitionChanges:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    adopted_rows: int = 0
    purged_rows: int = 0


def load_policies(conn: psycopg.Connection[Any]) -> list[PartitionPolicy]:
    rows = conn.execute(
        "SELECT table_name, time_column, step, retain, ahead FROM partition_policies"
        " ORDER BY table_name")
    return [PartitionPolicy(*row) for row in rows]


def maintain_table(conn: psycopg.Connection[Any], policy: PartitionPolicy,
                   now: datetime) -> PartitionChanges:
    """One table's partition work; call inside a transaction holding the maintenance lock."""
    changes = PartitionChanges()
    conn.execute("SET LOCAL timezone = 'UTC'; SET LOCAL datestyle = 'ISO'")
    existing = {lo: (name, hi) for name, lo, hi in conn.execute(_BOUNDS, (policy.table,))}
    cutoff = now - policy.retain if policy.retain is not None else None
    wanted = _wanted(conn, policy, now, cutoff)
    missing = [lo for lo in sorted(wanted) if not _overlaps(lo, lo + policy.step, existing)]
    if missing:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.Identifier(policy.default)))
    for lo in missing:
        changes.adopted_rows += _create(conn, policy, lo)
        changes.created.append(policy.name(lo))
    if cutoff is not None:
        for _lo, (name, hi) in sorted(existing.items()):
            if hi <= cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                changes.dropped.append(name)
        changes.purged_rows = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} < %s").format(
                sql.Identifier(policy.default), sql.Identifier(policy.column)), (cutoff,),
        ).rowcount
    return changes


def _wanted(conn: psycopg.Connection[Any], policy: PartitionPolicy, now: datetime,
            cutoff: datetime | None) -> set[datetime]:
    """Buckets from now to ``ahead`` steps on, and those of rows waiting in DEFAULT."""
    first = policy.bucket(now)
    horizon = first + (policy.ahead + 1) * policy.step
    wanted = {first + i * policy.step for i in range(policy.ahead + 1)}
    query = sql.SQL(
        "SELECT DISTINCT date_bin(%s, {col}, %s) FROM {default}"
        " WHERE {col} >= %s AND {col} < %s"
    ).format(col=sql.Identifier(policy.column), default=sql.Identifier(policy.default))
    floor = cutoff if cutoff is not None else datetime(1, 1, 1, tzinfo=UTC)
    for (lo,) in conn.execute(query, (policy.step, EPOCH, floor, horizon)):
        wanted.add(lo)
    return wanted


def _overlaps(lo: datetime, hi: datetime, existing: dict[datetime, tuple[str, datetime]]) -> bool:
    return any(e_lo < hi and lo < e_hi for e_lo, (_, e_hi) in existing.items())


def _create(conn: psycopg.Connection[Any], policy: PartitionPolicy, lo: datetime) -> int:
    """Create and attach one partition, moving its rows out of DEFAULT first."""
    hi = lo + policy.step
    ids = {"part": sql.Identifier(policy.name(lo)), "parent": sql.Identifier(policy.table),
           "default": sql.Identifier(policy.default), "col": sql.Identifier(policy.column)}
    conn.execute(sql.SQL(
        "CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ).format(**ids))
    moved = conn.execute(sql.SQL(
        "WITH moved AS (DELETE FROM {default} WHERE {col} >= %s AND {col} < %s RETURNING *)"
        " INSERT INTO {part} SELECT * FROM moved"
    ).format(**ids), (lo, hi)).rowcount
    conn.execute(sql.SQL(
        "ALTER TABLE {parent} ATTACH PARTITION {part} FOR VALUES FROM ({lo}) TO ({hi})"
    ).format(**ids, lo=sql.Literal(lo), hi=sql.Literal(hi)))
    return moved
