"""Supervisor figures: how fast alarms were answered, against the industry targets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from server.scope import Scope

TARGET_WITHIN_60S, TARGET_WITHIN_180S = 0.975, 0.99
DEFAULT_PERIOD = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class AnswerTimes:
    """Alarms opened in [since, until): how many, how many answered, the share answered within
    60 s / 180 s (None without alarms) and the median / 90th percentile in seconds."""

    since: datetime
    until: datetime
    alarms: int
    answered: int
    within_60s: float | None
    within_180s: float | None
    p50_s: float | None
    p90_s: float | None
    target_within_60s: float = TARGET_WITHIN_60S
    target_within_180s: float = TARGET_WITHIN_180S


def answer_times(conn: psycopg.Connection[Any], scope: Scope, since: datetime | None = None,
                 until: datetime | None = None) -> AnswerTimes:
    """Answer time = first claim − opening, over P1/P2 alarms in scope opened in [since, until)
    (default: the 24 h to now).

    Alarms the resident cancelled need no answer and are left out; alarms never answered count
    as slower than any threshold.
    """
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_PERIOD
    row = conn.execute(sql.SQL(
        "WITH t AS (SELECT extract(epoch FROM a.answered_at - a.opened_at) AS s FROM alerts a "
        "WHERE a.priority IN ('P1', 'P2') AND a.state <> 'cancelled' AND {} "
        "AND a.opened_at >= %s AND a.opened_at < %s) "
        "SELECT count(*), count(s), count(*) FILTER (WHERE s <= 60), "
        "count(*) FILTER (WHERE s <= 180), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FROM t").format(
            scope.where("a.region_id")), (since, until)).fetchone()
    assert row is not None
    total, answered, in60, in180, p50, p90 = row
    return AnswerTimes(since, until, total, answered, _share(in60, total), _share(in180, total),
                       _seconds(p50), _seconds(p90))


def _share(n: int, total: int) -> float | None:
    return round(n / total, 4) if total else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
