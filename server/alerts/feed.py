"""The alert change feed: a row in ``alert_changes`` per change and a NOTIFY carrying its seq.

The NOTIFY channel is per schema, so several deployments (or tests) can share one database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

CHANNEL_PREFIX = "pal_alerts_"


def channel(schema: str) -> str:
    return f"{CHANNEL_PREFIX}{schema}"


def record_change(conn: psycopg.Connection[Any], alert_id: int, action: str) -> int:
    """Append to the feed and notify listeners at commit; returns the change's seq."""
    row = conn.execute(
        "WITH c AS (INSERT INTO alert_changes (alert_id, action) VALUES (%s, %s) "
        "RETURNING seq, alert_id, action) "
        "SELECT c.seq, pg_notify(%s || current_schema(), json_build_object("
        "'seq', c.seq, 'alert_id', c.alert_id, 'action', c.action)::text) FROM c",
        (alert_id, action, CHANNEL_PREFIX)).fetchone()
    assert row is not None
    return int(row[0])


GAP_GRACE_S = 30.0


def changes_since(conn: psycopg.Connection[Any], seq: int, limit: int = 1000,
                  ) -> list[dict[str, Any]]:
    """Changes after ``seq`` (oldest first): what a reconnecting client has missed.

    A sequence number is taken at insert but visible only at commit, so with several writers a
    higher number can be visible before a lower one. The feed stops before such a gap until the
    lower number commits; a gap still there after GAP_GRACE_S was a rolled-back transaction.
    """
    rows = conn.execute("SELECT seq, extract(epoch FROM clock_timestamp() - ts)::float8, "
                        "alert_id, action FROM alert_changes WHERE seq > %s ORDER BY seq "
                        "LIMIT %s", (seq, limit)).fetchall()
    return [{"seq": s, "alert_id": alert_id, "action": action}
            for s, _age, alert_id, action in rows[:readable(rows, seq)]]


def readable(rows: Sequence[Sequence[Any]], seq: int) -> int:
    """How many of ``rows`` (``(seq, age in s, …)`` after ``seq``, in seq order) can be handed
    out: up to the first gap younger than GAP_GRACE_S (see ``changes_since``)."""
    expected = seq + 1
    for n, (s, age, *_) in enumerate(rows):
        if s != expected and age < GAP_GRACE_S:
            return n
        expected = s + 1
    return len(rows)


def safe_head(conn: psycopg.Connection[Any]) -> int:
    """Where a new client starts: the last change with nothing uncommitted below it."""
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM alert_changes").fetchone()
    start = max(0, (int(row[0]) if row else 0) - 1000)
    visible = changes_since(conn, start, 1000)
    return int(visible[-1]["seq"]) if visible else start


def parse_notify(payload: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload)
    return data
